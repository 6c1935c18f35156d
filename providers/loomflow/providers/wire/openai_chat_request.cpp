// build_chat_request: ModelRequest -> the JSON body of POST {base}/chat/completions.
#include "loomflow/providers/wire/openai_chat.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace loomflow::providers::wire::openai {
namespace {

// ordered_json keeps keys in insertion order (the SDK's order) and schema properties as written,
// which strict structured output generates in that order.
using ojson = nlohmann::ordered_json;

Error invalid(std::string what) {
  return make_error(ErrorCode::invalid_argument, "openai chat request: " + std::move(what));
}

// A JSON Schema text as an object; `what` names it in errors.
Expected<ojson> schema_object(const std::string& text, const std::string& what) {
  ojson schema = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return invalid(what + " is not valid JSON");
  if (!schema.is_object()) return invalid(what + " must be a JSON object, not " + schema.type_name());
  return schema;
}

Expected<ojson> tool_call_json(const ToolCall& call, std::size_t message_index) {
  const std::string where = "message " + std::to_string(message_index) + ": tool call";
  if (call.name.empty()) return invalid(where + " without a name");
  if (call.id.empty()) return invalid(where + " '" + call.name + "' has no id");
  ojson function = ojson::object();
  function["name"] = call.name;
  function["arguments"] = call.arguments.empty() ? std::string("{}") : call.arguments;
  ojson out = ojson::object();
  out["id"] = call.id;
  out["type"] = "function";
  out["function"] = std::move(function);
  return out;
}

Expected<ojson> message_json(const Message& message, std::size_t index) {
  ojson out = ojson::object();
  out["role"] = std::string(to_string(message.role));
  switch (message.role) {
    case Role::system:
    case Role::user:
      out["content"] = message.content;
      break;
    case Role::assistant: {
      if (message.tool_calls.empty()) {
        out["content"] = message.content;
        break;
      }
      out["content"] = message.content.empty() ? ojson(nullptr) : ojson(message.content);
      ojson calls = ojson::array();
      for (const ToolCall& call : message.tool_calls) {
        auto c = tool_call_json(call, index);
        if (!c) return c.error();
        calls.push_back(std::move(*c));
      }
      out["tool_calls"] = std::move(calls);
      break;
    }
    case Role::tool:
      if (message.tool_call_id.empty()) {
        return invalid("message " + std::to_string(index) + ": tool result" +
                       (message.name.empty() ? std::string() : " of '" + message.name + "'") + " has no tool_call_id");
      }
      out["tool_call_id"] = message.tool_call_id;
      out["content"] = message.content;
      break;
  }
  return out;
}

Expected<ojson> tool_json(const ToolSpec& tool) {
  if (tool.name.empty()) return invalid("a tool without a name");
  ojson function = ojson::object();
  function["name"] = tool.name;
  if (!tool.description.empty()) function["description"] = tool.description;
  if (tool.parameters_schema.empty()) {
    function["parameters"] = ojson{{"type", "object"}, {"properties", ojson::object()}};
  } else {
    auto schema = schema_object(tool.parameters_schema, "the parameters schema of tool '" + tool.name + "'");
    if (!schema) return schema.error();
    function["parameters"] = std::move(*schema);
  }
  ojson out = ojson::object();
  out["type"] = "function";
  out["function"] = std::move(function);
  return out;
}

// The "tool_choice" value, or null to leave the key out.
Expected<ojson> tool_choice_json(const ModelRequest& request, const std::string& choice) {
  if (choice.empty()) return ojson(nullptr);
  const bool keyword = choice == "auto" || choice == "none" || choice == "required";
  if (request.tools.empty()) {
    if (keyword && choice != "required") return ojson(nullptr);  // the API rejects tool_choice without tools
    return invalid("tool_choice '" + choice + "' but the request has no tools");
  }
  if (keyword) return ojson(choice);
  for (const ToolSpec& tool : request.tools) {
    if (tool.name == choice) return ojson{{"type", "function"}, {"function", {{"name", choice}}}};
  }
  return invalid("tool_choice '" + choice + "' names no tool of the request");
}

Expected<std::string> build(const ModelRequest& request, const ChatOptions& options) {
  if (request.model.empty()) return invalid("the model name is empty");
  if (request.messages.empty()) return invalid("the conversation is empty");
  if (options.temperature && !std::isfinite(*options.temperature)) return invalid("temperature is not a finite number");
  if (options.max_tokens && *options.max_tokens <= 0) return invalid("max_tokens must be positive");

  ojson body = ojson::object();
  body["model"] = request.model;
  ojson messages = ojson::array();
  for (std::size_t i = 0; i < request.messages.size(); ++i) {
    auto m = message_json(request.messages[i], i);
    if (!m) return m.error();
    messages.push_back(std::move(*m));
  }
  body["messages"] = std::move(messages);

  if (!request.tools.empty()) {
    ojson tools = ojson::array();
    for (const ToolSpec& tool : request.tools) {
      auto t = tool_json(tool);
      if (!t) return t.error();
      tools.push_back(std::move(*t));
    }
    body["tools"] = std::move(tools);
  }
  auto choice = tool_choice_json(request, options.tool_choice);
  if (!choice) return choice.error();
  if (!choice->is_null()) body["tool_choice"] = std::move(*choice);
  if (!options.parallel_tool_calls && !request.tools.empty()) body["parallel_tool_calls"] = false;

  if (!request.output_schema.empty()) {
    auto schema = schema_object(request.output_schema, "the output schema");
    if (!schema) return schema.error();
    ojson format = ojson::object();
    format["name"] = "output";
    format["strict"] = true;
    format["schema"] = std::move(*schema);
    body["response_format"] = ojson{{"type", "json_schema"}, {"json_schema", std::move(format)}};
  }
  if (options.temperature) body["temperature"] = *options.temperature;
  if (options.max_tokens) body["max_tokens"] = *options.max_tokens;
  if (options.stream) {
    body["stream"] = true;
    body["stream_options"] = ojson{{"include_usage", true}};
  }
  // Invalid UTF-8 in a message must not turn serialization into an exception.
  return body.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace

Expected<std::string> build_chat_request(const ModelRequest& request, const ChatOptions& options) {
  try {
    return build(request, options);
  } catch (const ojson::exception& e) {
    return make_error(ErrorCode::internal, std::string("openai chat request: JSON error: ") + e.what());
  }
}

}  // namespace loomflow::providers::wire::openai
