// loomflow/tools/typed.hpp — function tools with typed parameters: register a C++ callable that
// takes a struct, and Loomflow generates the tool's JSON Schema from the struct's types, checks
// the model's arguments against it and hands the callable a filled struct.
//
// Contract:
//   * `typed_tool<Args>(name, description, fn, options)` makes a `Tool` whose parameters schema is
//     `tool_schema<Args>()`. It fails (invalid_argument) when the name is invalid, the type is
//     recursive, two fields share a name, an enum repeats a name, or `describe` names a member
//     that LOOMFLOW_TOOL_ARGS does not list.
//   * Each call parses the arguments text, validates it against the schema, converts it to Args
//     and calls `fn(ctx, args)` (or `fn(args)`); fn returns Expected<std::string> or std::string.
//     Every failure is a value, never an exception through the run: an ErrorCode::tool_error that
//     goes back to the model, which can correct its call, and that counts in usage.tool_errors.
//       malformed JSON        -> "arguments are not valid JSON: <parser message>"
//       schema violation      -> "invalid arguments: <JSON path>: <problem>", e.g.
//                                "invalid arguments: $.stops[1].days: expected integer, got string"
//       out-of-range integer  -> "invalid arguments: $.days: 3000000000 is out of range (-2147483648 to 2147483647)"
//       fn or conversion threw -> "tool '<name>' threw an exception: <what>"
//     Empty (or all-whitespace) arguments text means `{}`: some models send it for tools without
//     parameters. A `null` optional field means the same as an absent one.
//
// Describing a parameter struct — at namespace scope, after the struct, followed by a semicolon:
//   LOOMFLOW_TOOL_ARGS(Type, field1, field2, ...);   // the fields the model sees, in this order
//   LOOMFLOW_TOOL_ENUM(Enum, {Enum::a, "a"}, ...);   // an enum's names on the wire
// Fields must be public, non-const data members (no bit-fields); up to 64 fields per struct.
// Types must be declared at namespace scope (an anonymous namespace is fine), not in a function.
//
// Supported field types and their schema:
//   bool                                  {"type":"boolean"}
//   integers (int, long, uint8_t, ...)    {"type":"integer"}; 3.0 is accepted as 3 (as JSON Schema
//                                         does), 3.5 is not, nor a value outside the C++ type's range
//   float, double, long double            {"type":"number"}
//   std::string                           {"type":"string"}
//   enum with LOOMFLOW_TOOL_ENUM          {"type":"string","enum":["a","b"]}
//   std::vector<T>                        {"type":"array","items":<schema of T>}
//   std::optional<T> (as a field only)    the schema of T; the field is left out of "required"
//   struct with LOOMFLOW_TOOL_ARGS        {"type":"object","properties":{...},"required":[...],
//                                          "additionalProperties":false}
// "required" lists the non-optional fields in declaration order (possibly empty). `char`,
// pointers, maps and other types are refused at compile time.
//
// Descriptions ("description" in the schema): define `void describe(loomflow::tools::Describe<T>&)`
// beside T (found by argument-dependent lookup). `description(text)` describes the struct (its
// object schema), `field(&T::member, text)` a field (its property schema; for a field whose type is
// a described struct, the field's text takes precedence).
//
// Example:
//   enum class Unit { celsius, fahrenheit };
//   LOOMFLOW_TOOL_ENUM(Unit, {Unit::celsius, "celsius"}, {Unit::fahrenheit, "fahrenheit"});
//   struct Forecast { std::string city; int days = 1; std::optional<Unit> unit; };
//   LOOMFLOW_TOOL_ARGS(Forecast, city, days, unit);
//   void describe(loomflow::tools::Describe<Forecast>& d) {
//     d.description("Where and for how long.").field(&Forecast::days, "Number of days, 1 to 7.");
//   }
//   auto tool = loomflow::tools::typed_tool<Forecast>(
//       "forecast", "Weather forecast for a city.",
//       [](const loomflow::ToolContext&, const Forecast& f) -> loomflow::Expected<std::string> {
//         if (f.days < 1 || f.days > 7) return loomflow::Error{loomflow::ErrorCode::tool_error, "days must be 1 to 7"};
//         return "sunny in " + f.city;
//       });
//
// Thread-safety: the tool's function shares only immutable state (the schema and `fn`, which is
// called through a const reference), so it may run concurrently — as the calls of one model turn
// do — provided `fn` itself is safe to call concurrently. tool_schema is a pure function.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/error.hpp"
#include "loomflow/json_schema.hpp"
#include "loomflow/tool.hpp"

namespace loomflow::tools {

// One enum constant and its name on the wire; LOOMFLOW_TOOL_ENUM lists them.
template <class Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

template <class T>
class Describe;

namespace detail {

// Carries a type to the ADL hooks the macros define beside the user's type.
template <class T>
struct Tag {};

template <class Ptr>
struct Field {
  const char* name;
  Ptr member;
};

template <class T, class... Fields>
struct ArgsList {
  const char* type_name;
  std::tuple<Fields...> fields;
};

template <class Ptr>
constexpr Field<Ptr> field(const char* name, Ptr member) {
  static_assert(std::is_member_object_pointer_v<Ptr>, "LOOMFLOW_TOOL_ARGS lists data members only");
  return {name, member};
}

template <class T, class... Ptrs>
constexpr ArgsList<T, Field<Ptrs>...> make_args(const char* type_name, Field<Ptrs>... fields) {
  return {type_name, std::tuple<Field<Ptrs>...>{fields...}};
}

// Only the hooks found by argument-dependent lookup count; these stop ordinary lookup from finding
// anything else with the same name.
void loomflow_tool_args() = delete;
void loomflow_tool_enum() = delete;
void describe() = delete;

template <class T>
concept ArgsStruct = std::is_class_v<T> && requires { loomflow_tool_args(Tag<T>{}); };

template <class T>
concept NamedEnum = std::is_enum_v<T> && requires { loomflow_tool_enum(Tag<T>{}); };

template <class T>
concept Integer = std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
                  !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> &&
                  !std::is_same_v<T, char32_t>;

template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;

template <class T>
inline constexpr bool is_vector = false;
template <class T, class A>
inline constexpr bool is_vector<std::vector<T, A>> = true;

template <class T>
inline constexpr bool always_false = false;

template <class Ptr>
struct MemberOf;
template <class M, class C>
struct MemberOf<M C::*> {
  using type = M;
};
template <class Ptr>
using member_t = typename MemberOf<Ptr>::type;

template <class T>
constexpr auto args_of() {
  return loomflow_tool_args(Tag<T>{});
}

template <class T>
constexpr auto enum_names_of() {
  return loomflow_tool_enum(Tag<T>{});
}

template <class F, class Ptr>
const char* name_if_same(const F& field, Ptr member) {
  if constexpr (std::is_same_v<decltype(field.member), Ptr>) return field.member == member ? field.name : nullptr;
  return nullptr;
}

struct DescribeAccess;

}  // namespace detail

// True for a struct described with LOOMFLOW_TOOL_ARGS: what typed_tool takes as Args.
template <class T>
concept ToolArgs = detail::ArgsStruct<T>;

// Collects the descriptions of T and its fields; see "Descriptions" above.
template <class T>
class Describe {
  static_assert(ToolArgs<T>, "Describe<T> needs LOOMFLOW_TOOL_ARGS(T, ...) first");

 public:
  // The struct's description.
  Describe& description(std::string text) {
    description_ = std::move(text);
    return *this;
  }

  // A field's description; `member` must be listed in LOOMFLOW_TOOL_ARGS (else typed_tool fails).
  template <class Ptr>
    requires std::is_member_object_pointer_v<Ptr>
  Describe& field(Ptr member, std::string text) {
    constexpr auto args = detail::args_of<T>();
    const char* name = nullptr;
    std::apply([&](const auto&... f) { ((name = name ? name : detail::name_if_same(f, member)), ...); }, args.fields);
    if (name)
      fields_[name] = std::move(text);
    else
      problems_.push_back(std::string("describe() names a member of ") + args.type_name +
                          " that LOOMFLOW_TOOL_ARGS does not list");
    return *this;
  }

 private:
  friend struct detail::DescribeAccess;
  std::string description_;
  std::map<std::string, std::string, std::less<>> fields_;
  std::vector<std::string> problems_;
};

namespace detail {

struct DescribeAccess {
  template <class T>
  static const std::string& description(const Describe<T>& d) { return d.description_; }
  template <class T>
  static const std::map<std::string, std::string, std::less<>>& fields(const Describe<T>& d) { return d.fields_; }
  template <class T>
  static const std::vector<std::string>& problems(const Describe<T>& d) { return d.problems_; }
};

template <class T>
concept Described = requires(Describe<T>& d) { describe(d); };

template <class T>
Describe<T> docs_of() {
  Describe<T> docs;
  if constexpr (Described<T>) describe(docs);
  return docs;
}

// ---- Non-template helpers (typed.cpp) ----

// A conversion problem: where in the arguments and what, phrased like validate_json's violations.
struct ReadError {
  std::string path;
  std::string message;
  bool fail(std::string at, std::string what) {
    path = std::move(at);
    message = std::move(what);
    return false;
  }
};

Expected<nlohmann::json> parse_arguments(std::string_view arguments);
Expected<void> validate_arguments(const CheckedSchema& schema, const nlohmann::json& arguments);
Expected<CheckedSchema> check_generated_schema(nlohmann::json schema);
Error invalid_arguments(const ReadError& error);
Error exception_error(const std::string& tool, const char* what);
std::string key_path(const std::string& base, const char* key);
std::string index_path(const std::string& base, std::size_t index);
std::string expected_got(const char* expected, const nlohmann::json& value);  // "expected integer, got string"
std::string brief(const nlohmann::json& value);                               // a short dump for messages

// ---- Schema generation ----

struct SchemaBuild {
  std::vector<const void*> open;  // structs being built: a struct met again inside itself is recursive
  std::vector<std::string> problems;
};

template <class T>
inline constexpr char type_key = 0;  // one address per type

template <class T>
nlohmann::json schema_of(SchemaBuild& build);

template <class T>
nlohmann::json object_schema(SchemaBuild& build) {
  constexpr auto args = args_of<T>();
  for (const void* open : build.open) {
    if (open == &type_key<T>) {
      build.problems.push_back(std::string(args.type_name) + " contains itself; recursive types are not supported");
      return nlohmann::json::object();
    }
  }
  build.open.push_back(&type_key<T>);
  const Describe<T> docs = docs_of<T>();
  for (const auto& problem : DescribeAccess::problems(docs)) build.problems.push_back(problem);
  const auto& field_docs = DescribeAccess::fields(docs);

  nlohmann::json properties = nlohmann::json::object();
  nlohmann::json required = nlohmann::json::array();
  auto add = [&](const auto& f) {
    using M = member_t<decltype(f.member)>;
    if (properties.contains(f.name)) {
      build.problems.push_back(std::string(args.type_name) + " lists field '" + f.name + "' twice");
      return;
    }
    nlohmann::json property;
    if constexpr (is_optional<M>) {
      property = schema_of<typename M::value_type>(build);
    } else {
      property = schema_of<M>(build);
      required.push_back(f.name);
    }
    if (auto it = field_docs.find(std::string_view(f.name)); it != field_docs.end()) property["description"] = it->second;
    properties[f.name] = std::move(property);
  };
  std::apply([&](const auto&... f) { (add(f), ...); }, args.fields);
  build.open.pop_back();

  nlohmann::json schema = {{"type", "object"},
                           {"properties", std::move(properties)},
                           {"required", std::move(required)},
                           {"additionalProperties", false}};
  if (!DescribeAccess::description(docs).empty()) schema["description"] = DescribeAccess::description(docs);
  return schema;
}

template <class T>
nlohmann::json schema_of(SchemaBuild& build) {
  if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (Integer<T>) {
    return {{"type", "integer"}};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (std::is_same_v<T, std::string>) {
    return {{"type", "string"}};
  } else if constexpr (NamedEnum<T>) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& e : enum_names_of<T>()) {
      if (std::find(names.begin(), names.end(), e.name) != names.end())
        build.problems.push_back("LOOMFLOW_TOOL_ENUM repeats the name '" + std::string(e.name) + "'");
      names.push_back(e.name);
    }
    return {{"type", "string"}, {"enum", std::move(names)}};
  } else if constexpr (is_vector<T>) {
    return {{"type", "array"}, {"items", schema_of<typename T::value_type>(build)}};
  } else if constexpr (ArgsStruct<T>) {
    return object_schema<T>(build);
  } else if constexpr (is_optional<T>) {
    static_assert(always_false<T>, "std::optional is supported as the type of a struct field only");
  } else if constexpr (std::is_enum_v<T>) {
    static_assert(always_false<T>, "declare the enum's names with LOOMFLOW_TOOL_ENUM");
  } else if constexpr (std::is_class_v<T>) {
    static_assert(always_false<T>, "declare the struct's fields with LOOMFLOW_TOOL_ARGS");
  } else {
    static_assert(always_false<T>, "unsupported tool parameter type; see loomflow/tools/typed.hpp");
  }
}

template <class Args>
Expected<CheckedSchema> build_schema() {
  SchemaBuild build;
  nlohmann::json schema = schema_of<Args>(build);
  if (!build.problems.empty()) {
    std::string message = build.problems.front();
    for (std::size_t i = 1; i < build.problems.size(); ++i) message += "; " + build.problems[i];
    return Error{ErrorCode::invalid_argument, std::move(message)};
  }
  return check_generated_schema(std::move(schema));
}

// ---- Arguments: null optionals, conversion ----

// A null optional field means an absent one: drop those before validation, so the schema can say
// just "the type of T" for an optional<T>.
template <class T>
void drop_null_optionals(nlohmann::json& value) {
  if constexpr (ArgsStruct<T>) {
    if (!value.is_object()) return;
    auto drop = [&](const auto& f) {
      using M = member_t<decltype(f.member)>;
      auto it = value.find(f.name);
      if (it == value.end()) return;
      if constexpr (is_optional<M>) {
        if (it->is_null()) {
          value.erase(it);
          return;
        }
        drop_null_optionals<typename M::value_type>(*it);
      } else {
        drop_null_optionals<M>(*it);
      }
    };
    std::apply([&](const auto&... f) { (drop(f), ...); }, args_of<T>().fields);
  } else if constexpr (is_vector<T>) {
    if (!value.is_array()) return;
    for (auto& element : value) drop_null_optionals<typename T::value_type>(element);
  }
}

template <class I>
bool read_integer(const nlohmann::json& value, I& out, const std::string& path, ReadError& error) {
  using limits = std::numeric_limits<I>;
  auto out_of_range = [&] {
    return error.fail(path, brief(value) + " is out of range (" + std::to_string(limits::min()) + " to " +
                                std::to_string(limits::max()) + ")");
  };
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (!std::in_range<I>(v)) return out_of_range();
    out = static_cast<I>(v);
    return true;
  }
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    if (!std::in_range<I>(v)) return out_of_range();
    out = static_cast<I>(v);
    return true;
  }
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (!std::isfinite(v) || std::trunc(v) != v) return error.fail(path, expected_got("integer", value));
    // Both bounds are exact doubles: min is 0 or -2^digits, and max + 1 is 2^digits.
    const double low = static_cast<double>(limits::min());
    const double high = std::ldexp(1.0, limits::digits);
    if (v < low || v >= high) return out_of_range();
    out = static_cast<I>(v);
    return true;
  }
  return error.fail(path, expected_got("integer", value));
}

template <class T>
bool read(const nlohmann::json& value, T& out, const std::string& path, ReadError& error);

template <class T, class F>
bool read_field(const nlohmann::json& object, T& out, const F& f, const std::string& path, ReadError& error) {
  using M = member_t<decltype(f.member)>;
  auto& target = out.*(f.member);
  auto it = object.find(f.name);
  if constexpr (is_optional<M>) {
    if (it == object.end() || it->is_null()) {
      target.reset();
      return true;
    }
    typename M::value_type v{};
    if (!read(*it, v, key_path(path, f.name), error)) return false;
    target = std::move(v);
    return true;
  } else {
    if (it == object.end()) return error.fail(path, std::string("missing required property '") + f.name + "'");
    return read(*it, target, key_path(path, f.name), error);
  }
}

template <class T>
bool read(const nlohmann::json& value, T& out, const std::string& path, ReadError& error) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return error.fail(path, expected_got("boolean", value));
    out = value.get<bool>();
    return true;
  } else if constexpr (Integer<T>) {
    return read_integer(value, out, path, error);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) return error.fail(path, expected_got("number", value));
    auto v = value.get<long double>();
    if (std::isfinite(v) && std::fabs(v) > static_cast<long double>(std::numeric_limits<T>::max()))
      return error.fail(path, brief(value) + " is out of range for this number");
    out = static_cast<T>(v);
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!value.is_string()) return error.fail(path, expected_got("string", value));
    out = value.get_ref<const std::string&>();
    return true;
  } else if constexpr (NamedEnum<T>) {
    if (!value.is_string()) return error.fail(path, expected_got("string", value));
    const auto& text = value.get_ref<const std::string&>();
    for (const auto& e : enum_names_of<T>()) {
      if (e.name == text) {
        out = e.value;
        return true;
      }
    }
    return error.fail(path, "value " + brief(value) + " is not one of the allowed names");
  } else if constexpr (is_vector<T>) {
    if (!value.is_array()) return error.fail(path, expected_got("array", value));
    out.clear();
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      typename T::value_type element{};
      if (!read(value[i], element, index_path(path, i), error)) return false;
      out.push_back(std::move(element));
    }
    return true;
  } else if constexpr (ArgsStruct<T>) {
    if (!value.is_object()) return error.fail(path, expected_got("object", value));
    constexpr auto args = args_of<T>();
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string& key = it.key();
      bool known = std::apply([&](const auto&... f) { return ((key == f.name) || ...); }, args.fields);
      if (!known) return error.fail(path, "unknown property '" + key + "' (additionalProperties is false)");
    }
    return std::apply([&](const auto&... f) { return (read_field(value, out, f, path, error) && ...); }, args.fields);
  } else {
    static_assert(always_false<T>, "unsupported tool parameter type; see loomflow/tools/typed.hpp");
  }
}

// ---- Calling fn ----

template <class R>
Expected<std::string> as_result(R&& result) {
  using D = std::remove_cvref_t<R>;
  if constexpr (std::is_same_v<D, Expected<std::string>>) {
    return std::forward<R>(result);
  } else if constexpr (std::is_convertible_v<R, std::string>) {
    return std::string(std::forward<R>(result));
  } else if constexpr (std::is_convertible_v<R, Expected<std::string>>) {
    return Expected<std::string>(std::forward<R>(result));
  } else {
    static_assert(always_false<R>, "a typed tool's function returns Expected<std::string> or std::string");
  }
}

template <class Args, class F>
Expected<std::string> call(const F& fn, const ToolContext& ctx, const Args& args) {
  if constexpr (std::is_invocable_v<const F&, const ToolContext&, const Args&>)
    return as_result(std::invoke(fn, ctx, args));
  else
    return as_result(std::invoke(fn, args));
}

}  // namespace detail

// The JSON Schema of Args' arguments object, as typed_tool gives it to the model. Throws
// std::invalid_argument where typed_tool would fail (see the contract above).
template <class Args>
nlohmann::json tool_schema() {
  static_assert(ToolArgs<Args>, "tool_schema<Args> needs LOOMFLOW_TOOL_ARGS(Args, ...)");
  auto schema = detail::build_schema<Args>();
  if (!schema) throw std::invalid_argument(schema.error().message);
  return schema->json();
}

// A function tool taking Args; see the contract above. `fn` is copied into the tool and called
// through a const reference as fn(const ToolContext&, const Args&) or fn(const Args&).
template <class Args, class F>
Expected<Tool> typed_tool(std::string name, std::string description, F fn, ToolOptions options = {}) {
  static_assert(ToolArgs<Args>, "typed_tool<Args> needs LOOMFLOW_TOOL_ARGS(Args, ...)");
  static_assert(std::is_default_constructible_v<Args>, "typed_tool<Args> needs a default-constructible Args");
  static_assert(std::is_invocable_v<const F&, const ToolContext&, const Args&> ||
                    std::is_invocable_v<const F&, const Args&>,
                "typed_tool's function must be callable as fn(const ToolContext&, const Args&) or fn(const Args&) "
                "through a const reference");
  static_assert(std::is_copy_constructible_v<F>, "typed_tool's function must be copyable (it becomes a ToolFn)");
  auto schema = detail::build_schema<Args>();
  if (!schema) return Error{ErrorCode::invalid_argument, "tool '" + name + "': " + schema.error().message};
  // Shared, immutable: copies of the tool and concurrent calls read the same schema.
  auto shared_schema = std::make_shared<const CheckedSchema>(std::move(schema).value());
  std::string schema_text = shared_schema->json().dump();
  ToolFn wrapped = [parameters = std::move(shared_schema), fn = std::move(fn), tool = name](
                       const ToolContext& ctx, std::string_view arguments) -> Expected<std::string> {
    try {
      auto json = detail::parse_arguments(arguments);
      if (!json) return std::move(json).error();
      detail::drop_null_optionals<Args>(*json);
      if (auto valid = detail::validate_arguments(*parameters, *json); !valid) return valid.error();
      Args args{};
      detail::ReadError error;
      if (!detail::read(*json, args, "$", error)) return detail::invalid_arguments(error);
      return detail::call(fn, ctx, std::as_const(args));
    } catch (const std::exception& e) {
      return detail::exception_error(tool, e.what());
    } catch (...) {
      return detail::exception_error(tool, nullptr);
    }
  };
  return Tool::function(std::move(name), std::move(description), std::move(schema_text), std::move(wrapped),
                        options);
}

}  // namespace loomflow::tools

// ---- Macros ----

// Expands its argument 4^4 times: enough rescans for the field list of LOOMFLOW_TOOL_ARGS.
#define LOOMFLOW_DETAIL_EXPAND(...) \
  LOOMFLOW_DETAIL_EXPAND3(LOOMFLOW_DETAIL_EXPAND3(LOOMFLOW_DETAIL_EXPAND3(LOOMFLOW_DETAIL_EXPAND3(__VA_ARGS__))))
#define LOOMFLOW_DETAIL_EXPAND3(...) \
  LOOMFLOW_DETAIL_EXPAND2(LOOMFLOW_DETAIL_EXPAND2(LOOMFLOW_DETAIL_EXPAND2(LOOMFLOW_DETAIL_EXPAND2(__VA_ARGS__))))
#define LOOMFLOW_DETAIL_EXPAND2(...) \
  LOOMFLOW_DETAIL_EXPAND1(LOOMFLOW_DETAIL_EXPAND1(LOOMFLOW_DETAIL_EXPAND1(LOOMFLOW_DETAIL_EXPAND1(__VA_ARGS__))))
#define LOOMFLOW_DETAIL_EXPAND1(...) __VA_ARGS__
#define LOOMFLOW_DETAIL_PARENS ()

// field1, field2, ... -> detail::field("field1", &Type::field1), ...
#define LOOMFLOW_DETAIL_TOOL_FIELDS(Type, ...) \
  __VA_OPT__(LOOMFLOW_DETAIL_EXPAND(LOOMFLOW_DETAIL_TOOL_FIELDS_STEP(Type, __VA_ARGS__)))
#define LOOMFLOW_DETAIL_TOOL_FIELDS_STEP(Type, first, ...)       \
  ::loomflow::tools::detail::field(#first, &Type::first) __VA_OPT__(, \
      LOOMFLOW_DETAIL_TOOL_FIELDS_AGAIN LOOMFLOW_DETAIL_PARENS(Type, __VA_ARGS__))
#define LOOMFLOW_DETAIL_TOOL_FIELDS_AGAIN() LOOMFLOW_DETAIL_TOOL_FIELDS_STEP

// LOOMFLOW_TOOL_ARGS(Type, field1, field2, ...); — at namespace scope, after the struct: the
// fields of a typed tool's parameter struct, in the order the schema lists them.
#define LOOMFLOW_TOOL_ARGS(Type, ...)                                                                     \
  [[maybe_unused]] inline constexpr auto loomflow_tool_args(::loomflow::tools::detail::Tag<Type>) {       \
    return ::loomflow::tools::detail::make_args<Type>(#Type __VA_OPT__(, LOOMFLOW_DETAIL_TOOL_FIELDS(Type, __VA_ARGS__))); \
  }                                                                                                       \
  static_assert(std::is_class_v<Type>, "LOOMFLOW_TOOL_ARGS describes a struct")

// LOOMFLOW_TOOL_ENUM(Enum, {Enum::a, "a"}, {Enum::b, "b"}); — at namespace scope: an enum's
// constants and their names on the wire (the schema's "enum", in this order).
#define LOOMFLOW_TOOL_ENUM(Enum, ...)                                                         \
  [[maybe_unused]] inline constexpr auto loomflow_tool_enum(::loomflow::tools::detail::Tag<Enum>) { \
    return ::std::to_array<::loomflow::tools::EnumName<Enum>>({__VA_ARGS__});                 \
  }                                                                                           \
  static_assert(std::is_enum_v<Enum>, "LOOMFLOW_TOOL_ENUM describes an enum")
