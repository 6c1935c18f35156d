// JSON paths, value descriptions and typed field readers for the spec loader.
#include "loomflow/detail/spec_reader.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

namespace loomflow::detail::spec {

// ---- Paths, descriptions, errors ----------------------------------------------------------------

Error fail(const std::string& path, const std::string& problem) {
  return Error{ErrorCode::invalid_spec, path + ": " + problem};
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }


std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// As JSON Schema (and validate_json) see it: 3.0 is an integer.
bool is_integral(const ojson& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>()) && j.get<double>() == std::floor(j.get<double>());
  return j.is_number_integer();
}

namespace {

std::string type_name(const ojson& j) {
  if (j.is_number()) return is_integral(j) ? "integer" : "number";
  return j.is_null()      ? "null"
         : j.is_boolean() ? "boolean"
         : j.is_string()  ? "string"
         : j.is_array()   ? "array"
                          : "object";
}

}  // namespace

// "string \"3\"", "integer 0", "array": the actual type, and the value when it is short.
std::string describe(const ojson& j) {
  if (j.is_null() || j.is_array() || j.is_object()) return type_name(j);
  std::string value = dump(j);
  if (value.size() > 60) value = value.substr(0, 57) + "...";
  return type_name(j) + " " + value;
}

std::string listing(const std::vector<std::string>& names, std::string_view none) {
  if (names.empty()) return "(" + std::string(none) + ")";
  std::string out = "(known: ";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + ")";
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

// ---- Typed field readers --------------------------------------------------------------------------

// Unknown keys are errors (typo protection); a near miss gets a suggestion.
Expected<void> check_fields(const ojson& object, const std::string& path,
                            std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string problem = "unknown field";
    for (auto candidate : known)
      if (auto d = edit_distance(key, candidate); d <= 2 && d * 3 <= candidate.size()) {
        problem += " (did you mean \"" + std::string(candidate) + "\"?)";
        break;
      }
    return fail(key_path(path, key), problem);
  }
  return {};
}

const ojson* optional_field(const ojson& object, const std::string& key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Expected<const ojson*> required_field(const ojson& object, const std::string& path, const std::string& key) {
  if (const ojson* value = optional_field(object, key)) return value;
  return fail(path, "missing required field \"" + key + "\"");
}

Expected<void> expect_type(const ojson& value, const std::string& path, std::string_view type) {
  if (type_name(value) == type || (type == "number" && value.is_number())) return {};
  return fail(path, "expected " + std::string(type) + ", got " + describe(value));
}

Expected<std::string> read_string(const ojson& value, const std::string& path) {
  if (auto ok = expect_type(value, path, "string"); !ok) return ok.error();
  return value.get<std::string>();
}

Expected<int> read_positive_int(const ojson& value, const std::string& path) {
  if (!is_integral(value)) return fail(path, "expected integer >= 1, got " + describe(value));
  // Compare as double so that huge and negative values of every JSON number kind are caught.
  double number = value.get<double>();
  if (number < 1) return fail(path, "expected integer >= 1, got " + describe(value));
  if (number > INT_MAX)
    return fail(path, "expected integer <= " + std::to_string(INT_MAX) + ", got " + describe(value));
  return static_cast<int>(number);
}

Expected<void> check_name(const std::string& name, const std::string& path, std::string_view what) {
  if (!is_valid_name(name))
    return fail(
        path, "invalid " + std::string(what) + " name " + in_quotes(name) + " (use [A-Za-z0-9_-], 1 to 64 characters)");
  return {};
}

Error at_path(const Error& error, const std::string& path) {
  if (!error.message.empty() && error.message.front() == '$') return Error{ErrorCode::invalid_spec, error.message};
  return fail(path, error.message);
}

std::optional<std::size_t> find_name(const std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return std::nullopt;
  return static_cast<std::size_t>(it - names.begin());
}

}  // namespace loomflow::detail::spec
