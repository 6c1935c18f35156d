#include "loomflow/tools/typed.hpp"

#include "loomflow/detail/json_depth.hpp"
#include "loomflow/detail/json_path.hpp"
#include "loomflow/json_schema.hpp"

namespace loomflow::tools::detail {

namespace {

const char* type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "integer";
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    default: return "unknown";
  }
}

}  // namespace

Expected<nlohmann::json> parse_arguments(std::string_view arguments) {
  // Some models send nothing at all for a tool without parameters.
  if (arguments.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
  // Checked before parsing: deep values would overflow the stack of nlohmann's recursive code.
  if (loomflow::detail::json_text_too_deep(arguments))
    return Error{ErrorCode::tool_error, "arguments are nested deeper than " +
                                            std::to_string(loomflow::detail::kMaxJsonDepth) + " levels"};
  try {
    return nlohmann::json::parse(arguments);
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::tool_error, std::string("arguments are not valid JSON: ") + e.what()};
  }
}

Expected<void> validate_arguments(const CheckedSchema& schema, const nlohmann::json& arguments) {
  if (auto violation = validate_json(schema, arguments))
    return Error{ErrorCode::tool_error, "invalid arguments: " + violation->to_string()};
  return {};
}

Expected<CheckedSchema> check_generated_schema(nlohmann::json schema) {
  // A failure here is a bug in the generator, not in the caller's types.
  auto checked = CheckedSchema::check(std::move(schema));
  if (!checked) return Error{ErrorCode::internal, "the generated parameters schema " + checked.error().message};
  return checked;
}

Error invalid_arguments(const ReadError& error) {
  return Error{ErrorCode::tool_error, "invalid arguments: " + error.path + ": " + error.message};
}

Error exception_error(const std::string& tool, const char* what) {
  return Error{ErrorCode::tool_error,
               "tool '" + tool + "' threw an exception: " + (what ? std::string(what) : std::string("(not a std::exception)"))};
}

std::string key_path(const std::string& base, const char* key) { return loomflow::detail::json_key_path(base, key); }

std::string index_path(const std::string& base, std::size_t index) {
  return loomflow::detail::json_index_path(base, index);
}

std::string expected_got(const char* expected, const nlohmann::json& value) {
  return std::string("expected ") + expected + ", got " + type_name(value);
}

std::string brief(const nlohmann::json& value) {
  // Replaces invalid UTF-8 instead of throwing: the text is only for a message.
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

}  // namespace loomflow::tools::detail
