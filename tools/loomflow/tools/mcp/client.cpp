#include "loomflow/tools/mcp/client.hpp"

#include <set>

#include "loomflow/tools/mcp/session.hpp"

namespace loomflow::mcp {
namespace {

using nlohmann::json;

constexpr int kMaxPages = 1000;  // a server that hands out cursors forever is broken

std::string string_field(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Expected<ToolInfo> parse_tool(const json& tool, const std::string& server, std::size_t index) {
  const std::string where = "MCP server '" + server + "': tools/list entry " + std::to_string(index);
  if (!tool.is_object()) return Error{ErrorCode::tool_error, where + " is not an object"};
  ToolInfo info;
  info.name = string_field(tool, "name");
  if (info.name.empty()) return Error{ErrorCode::tool_error, where + " has no name"};
  info.title = string_field(tool, "title");
  info.description = string_field(tool, "description");
  info.input_schema = tool.contains("inputSchema") && tool["inputSchema"].is_object() ? tool["inputSchema"]
                                                                                      : json{{"type", "object"}};
  if (tool.contains("outputSchema") && tool["outputSchema"].is_object()) info.output_schema = tool["outputSchema"];
  if (tool.contains("annotations") && tool["annotations"].is_object()) {
    info.annotations = tool["annotations"];
    if (info.title.empty()) info.title = string_field(info.annotations, "title");
  }
  return info;
}

Expected<CallResult> parse_call_result(const json& result, const std::string& server, const std::string& tool) {
  const std::string where = "MCP server '" + server + "': tools/call '" + tool + "'";
  if (!result.is_object()) return Error{ErrorCode::tool_error, where + " answered with a result that is not an object"};
  CallResult out;
  if (result.contains("content")) {
    if (!result["content"].is_array()) return Error{ErrorCode::tool_error, where + ": 'content' is not an array"};
    for (const auto& block : result["content"]) {
      if (!block.is_object()) continue;
      Content c;
      c.type = string_field(block, "type");
      c.mime_type = string_field(block, "mimeType");
      if (c.type == "text") {
        c.text = string_field(block, "text");
      } else if (c.type == "image" || c.type == "audio") {
        c.data = string_field(block, "data");
      } else if (c.type == "resource_link") {
        c.uri = string_field(block, "uri");
        c.text = string_field(block, "name");
      } else if (c.type == "resource" && block.contains("resource") && block["resource"].is_object()) {
        const json& r = block["resource"];
        c.uri = string_field(r, "uri");
        c.mime_type = string_field(r, "mimeType");
        c.text = string_field(r, "text");
        c.data = string_field(r, "blob");
      }
      out.content.push_back(std::move(c));
    }
  }
  if (result.contains("structuredContent") && !result["structuredContent"].is_null())
    out.structured_content = result["structuredContent"];
  out.is_error = result.value("isError", false);
  return out;
}

// Base64 text of n characters holds about 3n/4 bytes.
std::size_t decoded_size(const std::string& base64) {
  std::size_t pad = 0;
  for (auto it = base64.rbegin(); it != base64.rend() && *it == '='; ++it) ++pad;
  return base64.size() / 4 * 3 - std::min<std::size_t>(pad, 2);
}

}  // namespace

bool ToolInfo::idempotent() const {
  return annotations.is_object() && annotations.contains("idempotentHint") && annotations["idempotentHint"].is_boolean() &&
         annotations["idempotentHint"].get<bool>();
}

std::string CallResult::text() const {
  std::string out;
  bool any_text = false;
  auto add = [&](const std::string& line) {
    if (!out.empty()) out += "\n";
    out += line;
  };
  for (const auto& c : content) {
    if (c.type == "text") {
      add(c.text);
      any_text = true;
    } else if (c.type == "image" || c.type == "audio") {
      add("[" + c.type + " " + (c.mime_type.empty() ? "unknown type" : c.mime_type) + ", " +
          std::to_string(decoded_size(c.data)) + " bytes]");
    } else if (c.type == "resource_link") {
      add("[resource link " + c.uri + (c.text.empty() ? "" : " (" + c.text + ")") + "]");
    } else if (c.type == "resource") {
      if (!c.text.empty()) {
        add(c.text);
        any_text = true;
      } else {
        add("[resource " + c.uri + (c.mime_type.empty() ? "" : " " + c.mime_type) + ", " +
            std::to_string(decoded_size(c.data)) + " bytes]");
      }
    } else {
      add("[" + (c.type.empty() ? std::string("untyped") : c.type) + " content]");
    }
  }
  if (!any_text && !structured_content.is_null()) add(structured_content.dump());
  return out;
}

Client::Client(std::unique_ptr<detail::Session> session) : session_(std::move(session)) {}

Client::~Client() { session_->close(); }

Expected<std::shared_ptr<Client>> Client::connect(ServerOptions options) {
  if (options.name.empty()) return Error{ErrorCode::invalid_argument, "an MCP server needs a name"};
  std::unique_ptr<detail::Transport> transport;
  if (auto* stdio = std::get_if<StdioServer>(&options.transport)) {
    if (stdio->command.empty() || stdio->command.front().empty())
      return Error{ErrorCode::invalid_argument, "MCP server '" + options.name + "' has no command"};
    transport = detail::make_stdio_transport(options.name, *stdio);
  } else {
    const auto& http = std::get<HttpServer>(options.transport);
    if (http.url.rfind("http://", 0) != 0 && http.url.rfind("https://", 0) != 0)
      return Error{ErrorCode::invalid_argument, "MCP server '" + options.name + "': URL '" + http.url + "' is not http(s)"};
    transport = detail::make_http_transport(options.name, http);
  }
  auto session = std::make_unique<detail::Session>(std::move(options), std::move(transport));
  if (auto started = session->start(); !started) return started.error();
  return std::shared_ptr<Client>(new Client(std::move(session)));
}

const std::string& Client::name() const noexcept { return session_->options().name; }

ServerInfo Client::server_info() const { return session_->server_info(); }

int Client::restarts() const { return session_->restarts(); }

long Client::server_pid() const { return session_->pid(); }

Expected<std::vector<ToolInfo>> Client::list_tools(bool refresh) {
  if (!refresh)
    if (auto cached = session_->cached_tools()) return *cached;
  std::vector<ToolInfo> tools;
  std::set<std::string> seen_cursors;
  json cursor;
  for (int page = 0; page < kMaxPages; ++page) {
    json params = json::object();
    if (cursor.is_string()) params["cursor"] = cursor;
    auto result = session_->request("tools/list", params, {}, "tools/list");
    if (!result) return result.error();
    if (!result->is_object() || !result->contains("tools") || !(*result)["tools"].is_array())
      return Error{ErrorCode::tool_error, "MCP server '" + name() + "': tools/list answered without a 'tools' array"};
    for (const auto& t : (*result)["tools"]) {
      auto info = parse_tool(t, name(), tools.size());
      if (!info) return info.error();
      tools.push_back(std::move(*info));
    }
    cursor = result->value("nextCursor", json());
    if (!cursor.is_string() || cursor.get<std::string>().empty()) {
      session_->cache_tools(tools);
      return tools;
    }
    if (!seen_cursors.insert(cursor.get<std::string>()).second)
      return Error{ErrorCode::tool_error, "MCP server '" + name() + "': tools/list returned the cursor '" +
                                              cursor.get<std::string>() + "' twice"};
  }
  return Error{ErrorCode::tool_error, "MCP server '" + name() + "': tools/list has more than " + std::to_string(kMaxPages) + " pages"};
}

Expected<CallResult> Client::call_tool(const std::string& tool, const json& arguments, const CallOptions& options) {
  if (!arguments.is_object() && !arguments.is_null())
    return Error{ErrorCode::invalid_argument, "MCP server '" + name() + "': tools/call '" + tool + "': arguments must be a JSON object"};
  json params = {{"name", tool}, {"arguments", arguments.is_null() ? json::object() : arguments}};
  auto result = session_->request("tools/call", std::move(params), options, "tools/call '" + tool + "'");
  if (!result) return result.error();
  return parse_call_result(*result, name(), tool);
}

Expected<void> Client::ping() {
  auto result = session_->request("ping", json::object(), {}, "ping");
  if (!result) return result.error();
  return {};
}

Expected<json> Client::request(const std::string& method, json params, const CallOptions& options) {
  return session_->request(method, std::move(params), options, method);
}

}  // namespace loomflow::mcp
