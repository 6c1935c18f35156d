// Anthropic Messages codec: request bodies, non-streaming responses and error bodies.
// (The stream accumulator is in anthropic_messages_stream.cpp.)
#include "loomflow/providers/wire/anthropic_messages.hpp"

#include "loomflow/detail/json_depth.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace loomflow::providers::wire::anthropic {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr auto kReplace = json::error_handler_t::replace;

Error invalid(std::string message) { return Error{ErrorCode::invalid_argument, "anthropic request: " + message}; }

// Parses schema text; empty text is an object schema with no constraints.
Expected<ordered_json> parse_schema(const std::string& text, const std::string& what) {
  if (text.empty()) return ordered_json{{"type", "object"}};
  ordered_json schema = ordered_json::parse(text, nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) return invalid(what + " is not a JSON object");
  return schema;
}

// One wire turn under construction.
struct Turn {
  std::string role;
  ordered_json content = ordered_json::array();
};

Expected<ordered_json> blocks_of(const Message& m) {
  ordered_json blocks = ordered_json::array();
  if (m.role == Role::tool) {
    if (m.tool_call_id.empty()) return invalid("the result of tool '" + m.name + "' has no tool call id");
    ordered_json block{{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.content}};
    if (m.is_error) block["is_error"] = true;
    blocks.push_back(std::move(block));
    return blocks;
  }
  if (!m.content.empty()) blocks.push_back(ordered_json{{"type", "text"}, {"text", m.content}});
  if (m.role != Role::assistant) return blocks;
  for (const ToolCall& call : m.tool_calls) {
    ordered_json input = call.arguments.empty() ? ordered_json::object()
                                                : ordered_json::parse(call.arguments, nullptr, false);
    if (input.is_discarded() || !input.is_object())
      return invalid("the arguments of tool call '" + call.id + "' (tool '" + call.name +
                     "') are not a JSON object: " + call.arguments.substr(0, 200));
    blocks.push_back(ordered_json{{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", std::move(input)}});
  }
  return blocks;
}

Expected<std::string> build(const ModelRequest& request, const MessagesOptions& options) {
  if (options.max_tokens <= 0) return invalid("max_tokens must be positive, got " + std::to_string(options.max_tokens));
  if (request.model.empty()) return invalid("no model name");
  const bool structured = !request.output_schema.empty();

  std::string system;
  std::vector<Turn> turns;
  for (const Message& m : request.messages) {
    if (m.role == Role::system) {
      if (m.content.empty()) continue;
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    auto blocks = blocks_of(m);
    if (!blocks) return std::move(blocks).error();
    if (blocks->empty()) continue;
    const std::string role = m.role == Role::assistant ? "assistant" : "user";
    if (turns.empty() || turns.back().role != role) turns.push_back(Turn{role});
    for (auto& block : *blocks) turns.back().content.push_back(std::move(block));
  }
  if (turns.empty()) return invalid("the conversation has no user or assistant message");

  ordered_json tools = ordered_json::array();
  std::vector<std::string> tool_names;
  for (const ToolSpec& tool : request.tools) {
    if (structured && tool.name == kStructuredOutputTool)
      return invalid("tool name '" + tool.name + "' is reserved for structured output");
    auto schema = parse_schema(tool.parameters_schema, "the parameters schema of tool '" + tool.name + "'");
    if (!schema) return std::move(schema).error();
    ordered_json spec{{"name", tool.name}};
    if (!tool.description.empty()) spec["description"] = tool.description;
    spec["input_schema"] = std::move(*schema);
    tools.push_back(std::move(spec));
    tool_names.push_back(tool.name);
  }
  if (structured) {
    auto schema = parse_schema(request.output_schema, "the output schema");
    if (!schema) return std::move(schema).error();
    tools.push_back(ordered_json{
        {"name", kStructuredOutputTool},
        {"description", "Give your final answer by calling this tool once; its input is the answer."},
        {"input_schema", std::move(*schema)},
        {"strict", true}});
    tool_names.emplace_back(kStructuredOutputTool);
  }

  ordered_json tool_choice;  // null = omitted
  const std::string& choice = options.tool_choice;
  if (choice == "auto" || choice == "any" || choice == "none") {
    tool_choice = ordered_json{{"type", choice}};
  } else if (!choice.empty()) {
    if (std::find(tool_names.begin(), tool_names.end(), choice) == tool_names.end())
      return invalid("tool_choice names '" + choice + "', which is not one of the request's tools");
    tool_choice = ordered_json{{"type", "tool"}, {"name", choice}};
  } else if (structured) {
    tool_choice = request.tools.empty() ? ordered_json{{"type", "tool"}, {"name", kStructuredOutputTool}}
                                        : ordered_json{{"type", "any"}};
  }

  ordered_json body{{"model", request.model}, {"max_tokens", options.max_tokens}};
  if (!system.empty()) body["system"] = system;
  if (options.temperature) body["temperature"] = *options.temperature;
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (!tool_choice.is_null()) body["tool_choice"] = std::move(tool_choice);
  ordered_json messages = ordered_json::array();
  for (Turn& turn : turns)
    messages.push_back(ordered_json{{"role", turn.role}, {"content", std::move(turn.content)}});
  body["messages"] = std::move(messages);
  if (options.stream) body["stream"] = true;
  return body.dump(-1, ' ', false, kReplace);
}

// Reading helpers: absent, null or mistyped fields read as empty / zero.
std::string str(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t count(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return std::max<std::int64_t>(0, it->get<std::int64_t>());
  return 0;
}

std::string finish_reason(const std::string& stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") return "length";
  if (stop_reason == "refusal") return "refusal";
  return {};
}

Error error_from(const json& error, const std::string& label) {
  const std::string type = str(error, "type");
  const bool transient = type == "overloaded_error" || type == "rate_limit_error" || type == "api_error";
  return Error{transient ? ErrorCode::unavailable : ErrorCode::model_error,
               label + ": the API reported " + (type.empty() ? std::string("an error") : type) + ": " +
                   str(error, "message")};
}

Expected<ModelResponse> parse(std::string_view body, const std::string& label, bool structured) {
  if (detail::json_text_too_deep(body))
    return Error{ErrorCode::model_error, label + ": the response nests JSON deeper than " +
                                             std::to_string(detail::kMaxJsonDepth) + " levels"};
  const json root = json::parse(body, nullptr, false);
  if (root.is_discarded() || !root.is_object())
    return Error{ErrorCode::model_error,
                 label + ": the response is not a JSON object: " + std::string(body.substr(0, 200))};
  if (str(root, "type") == "error" || (root.contains("error") && root["error"].is_object()))
    return error_from(root.contains("error") ? root["error"] : json::object(), label);
  auto content = root.find("content");
  if (content == root.end() || !content->is_array())
    return Error{ErrorCode::model_error, label + ": the response has no \"content\" array"};

  ModelResponse response;
  response.message = Message::assistant("");
  bool answered = false;  // a structured_output tool call was seen
  for (const json& block : *content) {
    const std::string type = str(block, "type");
    if (type == "text") {
      if (!answered) response.message.content += str(block, "text");
    } else if (type == "tool_use") {
      const std::string name = str(block, "name");
      const json input = block.contains("input") ? block["input"] : json::object();
      const std::string arguments = input.dump(-1, ' ', false, kReplace);
      if (structured && name == kStructuredOutputTool) {
        response.message.content = arguments;
        answered = true;
      } else {
        response.message.tool_calls.push_back(ToolCall{str(block, "id"), name, arguments});
      }
    }
  }

  const std::string stop_reason = str(root, "stop_reason");
  response.finish_reason = finish_reason(stop_reason);
  if (answered && stop_reason == "tool_use")
    response.finish_reason = response.message.tool_calls.empty() ? "stop" : "tool_calls";
  if (stop_reason == "refusal") {
    response.refusal = response.message.content.empty() ? std::string("the model refused (stop_reason refusal)")
                                                        : std::move(response.message.content);
    response.message.content.clear();
  }

  const json usage = root.contains("usage") ? root["usage"] : json::object();
  const std::uint64_t cache_read = count(usage, "cache_read_input_tokens");
  response.usage.input_tokens = count(usage, "input_tokens") + count(usage, "cache_creation_input_tokens") + cache_read;
  response.usage.cached_input_tokens = cache_read;
  response.usage.output_tokens = count(usage, "output_tokens");
  return response;
}

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, std::min<std::size_t>(last + 1 - first, 1000)));
}

}  // namespace

Expected<std::string> build_messages_request(const ModelRequest& request, const MessagesOptions& options) {
  try {
    return build(request, options);
  } catch (const std::exception& e) {
    return Error{ErrorCode::internal, std::string("anthropic request: ") + e.what()};
  }
}

Expected<ModelResponse> parse_messages_response(std::string_view body, const std::string& provider_label,
                                                bool structured_output) {
  try {
    return parse(body, provider_label, structured_output);
  } catch (const std::exception& e) {
    return Error{ErrorCode::model_error, provider_label + ": unreadable response: " + e.what()};
  }
}

ApiError parse_error_body(int status, std::string_view body) {
  ApiError out;
  out.status = status;
  try {
    const json root = detail::json_text_too_deep(body) ? json(json::value_t::discarded) : json::parse(body, nullptr, false);
    if (!root.is_discarded() && root.is_object()) {
      out.request_id = str(root, "request_id");
      if (root.contains("error") && root["error"].is_object()) {
        out.type = str(root["error"], "type");
        out.message = str(root["error"], "message");
      } else {
        out.message = str(root, "message");
      }
      if (!out.type.empty() || !out.message.empty()) return out;
    }
  } catch (const std::exception&) {
    // fall through to the raw text
  }
  out.type.clear();
  out.message = trimmed(body);
  return out;
}

}  // namespace loomflow::providers::wire::anthropic
