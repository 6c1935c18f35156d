#include "loomflow/json_schema.hpp"

#include "loomflow/detail/json_depth.hpp"
#include "loomflow/detail/json_path.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string_view>
#include <vector>

namespace loomflow {
namespace {

using json = nlohmann::json;
using Result = std::optional<SchemaViolation>;

// A $ref chain this long that never moves into the instance is a loop, not a real schema.
constexpr int kMaxRefChain = 64;
// Recursive schemas over hostile, deeply nested instances must not exhaust the stack.
constexpr int kMaxDepth = 256;

// ---- Formatting ---------------------------------------------------------------------------------

// Invalid UTF-8 in model output must not turn a dump into an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Keeps messages readable when the offending value is large.
std::string brief(const json& j, std::size_t max = 80) {
  std::string s = dump(j);
  return s.size() <= max ? s : s.substr(0, max) + "...";
}


Result violation(const std::string& path, std::string message) { return SchemaViolation{path, std::move(message)}; }

bool is_integral(const json& j) {
  if (!j.is_number_float()) return j.is_number_integer();
  double d = j.get<double>();
  return std::isfinite(d) && d == std::floor(d);
}

// Like json::type_name(), but integral numbers (also 3.0) are "integer"; booleans are never numbers.
std::string type_name(const json& j) { return j.is_number() ? (is_integral(j) ? "integer" : "number") : j.type_name(); }

bool has_type(const json& j, const std::string& type) {
  return type == "number" ? j.is_number() : type == "integer" ? is_integral(j) : type_name(j) == type;
}

// Every byte except a UTF-8 continuation byte starts a code point.
std::size_t utf8_length(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](unsigned char c) { return (c & 0xC0) != 0x80; });
}

bool is_multiple_of(const json& x, const json& m) {
  if (x.is_number_integer() && m.is_number_integer()) {  // exact; doubles lose precision above 2^53
    return x.is_number_unsigned() ? x.get<std::uint64_t>() % m.get<std::uint64_t>() == 0
                                  : x.get<std::int64_t>() % m.get<std::int64_t>() == 0;
  }
  double q = x.get<double>() / m.get<double>();  // tolerance so that 0.3 is a multiple of 0.1
  return std::isfinite(q) && std::fabs(q - std::round(q)) <= 1e-9 * std::max(1.0, std::fabs(q));
}

// std::regex reports bad (or too costly) patterns by throwing; turn that into a value.
struct RegexResult {
  bool matched = false;
  std::string error;  // non-empty when the pattern could not be compiled or run
};

RegexResult search(const std::string& pattern, const std::string& text) {
  try {
    return {std::regex_search(text, std::regex(pattern, std::regex::ECMAScript)), ""};
  } catch (const std::regex_error& e) {
    return {false, "invalid regular expression " + dump(json(pattern)) + ": " + e.what()};
  }
}

// ---- $ref resolution ----------------------------------------------------------------------------

struct RefTarget {
  const json* node = nullptr;  // null when the ref does not resolve
  std::string path;            // where the target sits in the schema, for check_schema messages
};

// Resolves "#" or "#/a/b~1c" (a URI fragment holding an RFC 6901 pointer) against `root`.
RefTarget resolve_ref(const json& root, const std::string& ref) {
  if (ref.empty() || ref[0] != '#') return {};
  try {  // json_pointer throws on malformed pointers such as "#a" or "#/~2"
    json::json_pointer p(ref.substr(1));
    if (!root.contains(p)) return {};
    std::vector<std::string> tokens;  // walked again to spell the target's path
    for (; !p.empty(); p.pop_back()) tokens.insert(tokens.begin(), p.back());
    RefTarget t{&root, "$"};
    for (const auto& token : tokens) {
      bool array = t.node->is_array();
      t.path = array ? detail::json_index_path(t.path, std::stoul(token)) : detail::json_key_path(t.path, token);
      t.node = array ? &(*t.node)[std::stoul(token)] : &(*t.node)[token];
    }
    return t;
  } catch (const std::exception&) {
    return {};
  }
}

// ---- Validation ---------------------------------------------------------------------------------

// Where in the instance we are, and how many $refs were followed without descending into it.
struct Location {
  std::string path = "$";
  int depth = 0;
  int refs = 0;
  Location key(const std::string& k) const { return {detail::json_key_path(path, k), depth + 1, 0}; }
  Location index(std::size_t i) const { return {detail::json_index_path(path, i), depth + 1, 0}; }
};

const json* find(const json& schema, const char* keyword) {
  // A string_view key takes the map's transparent lookup: no std::string is made per keyword.
  auto it = schema.find(std::string_view(keyword));
  return it == schema.end() ? nullptr : &*it;
}

// Checks a size against optional "minX"/"maxX" keywords, e.g. "array has 3 items, expected at most 2".
Result size_limits(const json& s, const char* min, const char* max, std::size_t size, const char* kind,
                   const char* unit, const std::string& path) {
  // (The message is built only for a violation: this runs for every object, array and string.)
  auto what = [&] { return std::string(kind) + " has " + std::to_string(size) + " " + unit; };
  if (const json* m = find(s, min); m && size < m->get<double>())
    return violation(path, what() + ", expected at least " + dump(*m));
  if (const json* m = find(s, max); m && size > m->get<double>())
    return violation(path, what() + ", expected at most " + dump(*m));
  return {};
}

// Runs validate_json's checks. Expects a schema that passed check_schema, so keyword types are trusted.
class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  Result validate(const json& s, const json& x, const Location& at) {
    if (fatal_) return fatal_;
    if (s.is_boolean())
      return s.get<bool>() ? Result{} : violation(at.path, "no value is allowed here (schema is false)");
    if (at.depth > kMaxDepth)
      return fail_fatal(at.path, "value is nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (const json* ref = find(s, "$ref")) {
      if (at.refs >= kMaxRefChain) {
        return fail_fatal(at.path, "$ref " + dump(*ref) + " was followed " + std::to_string(kMaxRefChain) +
                                       " times without descending into the value (infinite $ref recursion)");
      }
      RefTarget target = resolve_ref(root_, ref->get<std::string>());
      if (!target.node) return fail_fatal(at.path, "cannot resolve $ref " + dump(*ref));
      if (auto v = validate(*target.node, x, {at.path, at.depth, at.refs + 1})) return v;
    }
    for (auto keywords : {&Validator::values, &Validator::strings, &Validator::numbers, &Validator::arrays,
                          &Validator::objects, &Validator::combinators}) {
      if (auto v = (this->*keywords)(s, x, at)) return v;
    }
    return {};
  }

 private:
  // Schema errors met while validating end the whole validation: under "not" or "anyOf" they must not
  // turn into a pass, and a $ref loop under "anyOf" would otherwise be retried exponentially often.
  Result fail_fatal(const std::string& path, std::string message) {
    return fatal_ = violation(path, std::move(message));
  }

  Result values(const json& s, const json& x, const Location& at) {
    if (const json* type = find(s, "type")) {
      auto matches = [&](const json& t) { return has_type(x, t.get_ref<const std::string&>()); };
      if (type->is_string() ? !matches(*type) : std::none_of(type->begin(), type->end(), matches)) {
        std::string expected;
        for (const json& t : type->is_string() ? json::array({*type}) : *type)
          expected += (expected.empty() ? "" : " or ") + t.get<std::string>();
        return violation(at.path, "expected " + expected + ", got " + type_name(x));
      }
    }
    if (const json* c = find(s, "const"); c && x != *c) {  // nlohmann compares 1 and 1.0 as equal
      return violation(at.path, "value " + brief(x) + " is not the required constant " + brief(*c));
    }
    if (const json* e = find(s, "enum"); e && std::find(e->begin(), e->end(), x) == e->end()) {
      return violation(at.path, "value " + brief(x) + " is not one of " + brief(*e, 200));
    }
    return {};
  }

  Result strings(const json& s, const json& x, const Location& at) {
    if (!x.is_string()) return {};
    const auto& str = x.get_ref<const std::string&>();
    if (auto v = size_limits(s, "minLength", "maxLength", utf8_length(str), "string", "characters", at.path)) return v;
    if (const json* p = find(s, "pattern")) {
      RegexResult r = search(p->get<std::string>(), str);
      if (!r.error.empty()) return fail_fatal(at.path, r.error);
      if (!r.matched) return violation(at.path, "string " + brief(x) + " does not match pattern " + dump(*p));
    }
    return {};
  }

  Result numbers(const json& s, const json& x, const Location& at) {
    if (!x.is_number()) return {};
    auto v = [&] { return "value " + dump(x); };  // built only for a violation
    if (const json* m = find(s, "minimum"); m && x < *m)
      return violation(at.path, v() + " is less than minimum " + dump(*m));
    if (const json* m = find(s, "exclusiveMinimum"); m && !(x > *m)) {
      return violation(at.path, v() + " is not greater than exclusiveMinimum " + dump(*m));
    }
    if (const json* m = find(s, "maximum"); m && x > *m)
      return violation(at.path, v() + " is greater than maximum " + dump(*m));
    if (const json* m = find(s, "exclusiveMaximum"); m && !(x < *m)) {
      return violation(at.path, v() + " is not less than exclusiveMaximum " + dump(*m));
    }
    if (const json* m = find(s, "multipleOf"); m && !is_multiple_of(x, *m)) {
      return violation(at.path, v() + " is not a multiple of " + dump(*m));
    }
    return {};
  }

  Result arrays(const json& s, const json& x, const Location& at) {
    if (!x.is_array()) return {};
    if (auto v = size_limits(s, "minItems", "maxItems", x.size(), "array", "items", at.path)) return v;
    std::size_t rest = 0;  // "items" applies only after the "prefixItems" tuple
    if (const json* prefix = find(s, "prefixItems")) {
      for (; rest < prefix->size() && rest < x.size(); ++rest) {
        if (auto v = validate((*prefix)[rest], x[rest], at.index(rest))) return v;
      }
      rest = prefix->size();
    }
    if (const json* items = find(s, "items")) {
      for (std::size_t i = rest; i < x.size(); ++i) {
        if (auto v = validate(*items, x[i], at.index(i))) return v;
      }
    }
    if (const json* unique = find(s, "uniqueItems"); unique && unique->get<bool>()) {
      std::map<json, std::size_t> seen;  // json's ordering compares numbers by value, so 1 and 1.0 collide
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (auto [it, fresh] = seen.emplace(x[i], i); !fresh) {
          return violation(at.path, "items [" + std::to_string(it->second) + "] and [" + std::to_string(i) +
                                        "] are equal (uniqueItems is true)");
        }
      }
    }
    return {};
  }

  Result objects(const json& s, const json& x, const Location& at) {
    if (!x.is_object()) return {};
    if (auto v = size_limits(s, "minProperties", "maxProperties", x.size(), "object", "properties", at.path)) return v;
    if (const json* required = find(s, "required"))
      for (const auto& name : *required)
        if (!x.contains(name)) return violation(at.path, "missing required property '" + name.get<std::string>() + "'");
    if (const json* names = find(s, "propertyNames")) {
      for (const auto& [key, value] : x.items()) {
        // A name has no path of its own, so the violation points at the object.
        if (auto v = validate(*names, json(key), {at.path, at.depth + 1, 0})) {
          return fatal_ ? v : violation(at.path, "invalid property name " + dump(json(key)) + ": " + v->message);
        }
      }
    }
    const json* props = find(s, "properties");
    const json* patterns = find(s, "patternProperties");
    const json* additional = find(s, "additionalProperties");
    bool matched = false;
    if (props) {
      for (const auto& [key, sub] : props->items()) {
        auto it = x.find(key);
        if (it == x.end()) continue;
        if (auto v = validate(sub, *it, at.key(key))) return v;
        if (auto v = pattern_properties(patterns, key, *it, at, matched)) return v;
      }
    }
    for (const auto& [key, value] : x.items()) {
      if (props && props->contains(key)) continue;
      matched = false;
      if (auto v = pattern_properties(patterns, key, value, at, matched)) return v;
      if (matched || !additional) continue;
      if (*additional == false)
        return violation(at.path, "unknown property '" + key + "' (additionalProperties is false)");
      if (auto v = validate(*additional, value, at.key(key))) return v;
    }
    return {};
  }

  Result pattern_properties(const json* patterns, const std::string& key, const json& value, const Location& at,
                            bool& matched) {
    if (!patterns) return {};
    for (const auto& [pattern, sub] : patterns->items()) {
      RegexResult r = search(pattern, key);
      if (!r.error.empty()) return fail_fatal(at.path, r.error);
      if (!r.matched) continue;
      matched = true;
      if (auto v = validate(sub, value, at.key(key))) return v;
    }
    return {};
  }

  Result combinators(const json& s, const json& x, const Location& at) {
    if (const json* all = find(s, "allOf"))
      for (const auto& sub : *all)
        if (auto v = validate(sub, x, at)) return v;
    for (const std::string kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      std::size_t matches = 0;
      std::string matched, failures;  // which alternatives matched, and why the others did not
      for (std::size_t i = 0; i < s[kw].size() && !(kw == "anyOf" && matches > 0); ++i) {
        auto v = validate(s[kw][i], x, at);
        if (fatal_) return fatal_;
        if (v) {
          failures += (failures.empty() ? ": [" : "; [") + std::to_string(i) + "] " + v->to_string();
        } else {
          matched += (matches++ ? ", " : "") + std::to_string(i);
        }
      }
      if (matches == 0) {
        return violation(
            at.path, "does not match any of the " + std::to_string(s[kw].size()) + " alternatives of " + kw + failures);
      }
      if (kw == "oneOf" && matches > 1) {
        return violation(at.path, "matches " + std::to_string(matches) +
                                      " alternatives of oneOf, expected exactly one (indices " + matched + ")");
      }
    }
    if (const json* no = find(s, "not")) {
      bool matched = !validate(*no, x, at);
      if (fatal_) return fatal_;
      if (matched) return violation(at.path, "value " + brief(x) + " must not match the schema in 'not'");
    }
    if (const json* condition = find(s, "if")) {
      bool holds = !validate(*condition, x, at);
      if (fatal_) return fatal_;
      if (const json* branch = find(s, holds ? "then" : "else")) return validate(*branch, x, at);
    }
    return {};
  }

  const json& root_;
  Result fatal_;
};

// ---- Schema checking ----------------------------------------------------------------------------

class SchemaChecker {
 public:
  explicit SchemaChecker(const json& root) : root_(root) {}

  Result check(const json& s, const std::string& path) {
    if (s.is_boolean()) return {};
    if (!s.is_object()) return violation(path, "a schema must be an object or a boolean, got " + brief(s));
    for (const auto& [kw, v] : s.items()) {
      if (auto bad = keyword(kw, v, detail::json_key_path(path, kw))) return bad;
    }
    return {};
  }

 private:
  Result keyword(const std::string& kw, const json& v, const std::string& path) {
    auto is = [&](std::initializer_list<const char*> names) {
      return std::any_of(names.begin(), names.end(), [&](const char* n) { return kw == n; });
    };
    auto need = [&](bool ok, const std::string& what) {
      return ok ? Result{} : violation(path, "'" + kw + "' must be " + what + ", got " + brief(v));
    };
    auto strings = [](const json& a) {
      return a.is_array() && std::all_of(a.begin(), a.end(), [](const json& e) { return e.is_string(); });
    };
    if (kw == "type") {
      const json names = v.is_array() ? v : json::array({v});
      if (names.empty() || !strings(names)) return need(false, "a type name or a non-empty array of type names");
      const std::set<std::string> known{"object", "array", "string", "integer", "number", "boolean", "null"};
      for (const auto& t : names) {
        if (!known.count(t.get<std::string>())) {
          return violation(
              path, "unknown type " + dump(t) + " (expected object, array, string, integer, number, boolean or null)");
        }
      }
      return {};
    }
    if (kw == "enum") return need(v.is_array(), "an array");
    if (kw == "required") return need(strings(v), "an array of strings");
    if (is({"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})) {
      return need(is_integral(v) && v.get<double>() >= 0, "a non-negative integer");
    }
    if (is({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) return need(v.is_number(), "a number");
    if (kw == "multipleOf") return need(v.is_number() && v.get<double>() > 0, "a number greater than 0");
    if (kw == "uniqueItems") return need(v.is_boolean(), "a boolean");
    if (kw == "pattern") {
      if (!v.is_string()) return need(false, "a string");
      RegexResult r = search(v.get<std::string>(), "");
      return r.error.empty() ? Result{} : violation(path, r.error);
    }
    if (kw == "items" && v.is_array()) return need(false, "a schema (for tuples use prefixItems)");
    if (is({"additionalProperties", "propertyNames", "items", "not", "if", "then", "else"})) return check(v, path);
    if (is({"properties", "patternProperties", "$defs", "definitions"})) {
      if (!v.is_object()) return need(false, "an object of schemas");
      for (const auto& [name, sub] : v.items()) {
        RegexResult r = kw == "patternProperties" ? search(name, "") : RegexResult{};
        if (!r.error.empty()) return violation(detail::json_key_path(path, name), r.error);
        if (auto bad = check(sub, detail::json_key_path(path, name))) return bad;
      }
      return {};
    }
    if (is({"prefixItems", "allOf", "anyOf", "oneOf"})) {
      if (!v.is_array() || v.empty()) return need(false, "a non-empty array of schemas");
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (auto bad = check(v[i], detail::json_index_path(path, i))) return bad;
      }
      return {};
    }
    if (kw == "$ref") {
      if (!v.is_string() || v.get<std::string>().rfind('#', 0) != 0) {
        return need(false, "a local reference starting with '#'");
      }
      RefTarget target = resolve_ref(root_, v.get<std::string>());
      if (!target.node) return violation(path, "cannot resolve $ref " + dump(v));
      // The target may lie where the walk from the root does not go (e.g. inside "enum"), so check it
      // too, once per target so that recursive schemas terminate.
      return checked_targets_.insert(target.path).second ? check(*target.node, target.path) : Result{};
    }
    return {};  // annotations and unsupported keywords are ignored, as in validate_json
  }

  const json& root_;
  std::set<std::string> checked_targets_{"$"};  // the root is checked anyway
};

// validate_json once the schema is known to be valid.
std::optional<SchemaViolation> validate_against_checked(const json& schema, const json& instance) {
  // Walking or printing a deeper value recursively could overflow the stack: refuse it up front.
  if (detail::json_too_deep(instance))
    return violation("$", "the value is nested deeper than " + std::to_string(detail::kMaxJsonDepth) + " levels");
  try {
    return Validator(schema).validate(schema, instance, Location{});
  } catch (const std::exception& e) {
    return violation("$", std::string("internal error while validating: ") + e.what());
  }
}

}  // namespace

std::string SchemaViolation::to_string() const { return path + ": " + message; }

std::optional<SchemaViolation> check_schema(const nlohmann::json& schema) {
  try {
    return SchemaChecker(schema).check(schema, "$");
  } catch (const std::exception& e) {  // a bug here must not take the caller down
    return violation("$", std::string("internal error while checking the schema: ") + e.what());
  }
}

std::optional<SchemaViolation> validate_json(const nlohmann::json& schema, const nlohmann::json& instance) {
  // Checking first lets the validator trust keyword types instead of guarding every access.
  if (auto bad = check_schema(schema)) return violation("$", "invalid schema: " + bad->to_string());
  return validate_against_checked(schema, instance);
}

std::optional<SchemaViolation> validate_json(const CheckedSchema& schema, const nlohmann::json& instance) {
  return validate_against_checked(schema.json(), instance);
}

Expected<CheckedSchema> CheckedSchema::check(nlohmann::json schema) {
  if (auto bad = check_schema(schema))
    return Error{ErrorCode::invalid_argument, "is not a valid JSON Schema: " + bad->to_string()};
  return CheckedSchema(std::move(schema));
}

Expected<CheckedSchema> CheckedSchema::parse(const std::string& text) {
  nlohmann::json schema;
  try {
    schema = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::invalid_argument, std::string("is not valid JSON: ") + e.what()};
  }
  return check(std::move(schema));
}

}  // namespace loomflow
