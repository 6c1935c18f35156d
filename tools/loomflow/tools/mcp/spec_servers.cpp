#include "loomflow/tools/mcp/spec_servers.hpp"

#include <set>

#include "loomflow/tools/mcp/tools.hpp"

namespace loomflow::mcp {
namespace {

using nlohmann::json;

Error bad(const std::string& path, const std::string& what) { return Error{ErrorCode::invalid_spec, path + ": " + what}; }

Expected<std::vector<std::string>> strings(const json& value, const std::string& path) {
  if (!value.is_array()) return bad(path, "expected an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) return bad(path + "[" + std::to_string(i) + "]", "expected a string");
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

Expected<std::map<std::string, std::string>> string_map(const json& value, const std::string& path) {
  if (!value.is_object()) return bad(path, "expected an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) return bad(path + "." + key, "expected a string");
    out[key] = v.get<std::string>();
  }
  return out;
}

}  // namespace

Expected<std::vector<Tool>> tools_from_spec(const json& server, const std::string& path) {
  if (!server.is_object()) return bad(path, "expected an object");
  static const std::set<std::string> known = {"name", "command", "env", "cwd", "url", "headers", "tools", "prefix", "timeout_ms"};
  for (const auto& [key, value] : server.items())
    if (!known.count(key)) return bad(path + "." + key, "unknown field");
  ServerOptions options;
  if (!server.contains("name") || !server["name"].is_string() || !is_valid_name(server["name"].get<std::string>()))
    return bad(path + ".name", "expected a name ([A-Za-z0-9_-], 1 to 64 characters)");
  options.name = server["name"].get<std::string>();
  const bool stdio = server.contains("command"), http = server.contains("url");
  if (stdio == http) return bad(path, "give either \"command\" (stdio) or \"url\" (Streamable HTTP)");
  if (stdio) {
    auto command = strings(server["command"], path + ".command");
    if (!command) return command.error();
    if (command->empty() || command->front().empty()) return bad(path + ".command", "expected the program and its arguments");
    StdioServer s;
    s.command = std::move(*command);
    if (server.contains("env")) {
      auto env = string_map(server["env"], path + ".env");
      if (!env) return env.error();
      s.env = std::move(*env);
    }
    if (server.contains("cwd")) {
      if (!server["cwd"].is_string()) return bad(path + ".cwd", "expected a string");
      s.working_directory = server["cwd"].get<std::string>();
    }
    for (const char* field : {"headers"})
      if (server.contains(field)) return bad(path + "." + field, "only for \"url\" servers");
    options.transport = std::move(s);
  } else {
    if (!server["url"].is_string()) return bad(path + ".url", "expected a string");
    HttpServer h;
    h.url = server["url"].get<std::string>();
    if (h.url.rfind("http://", 0) != 0 && h.url.rfind("https://", 0) != 0) return bad(path + ".url", "expected an http(s) URL");
    if (server.contains("headers")) {
      auto headers = string_map(server["headers"], path + ".headers");
      if (!headers) return headers.error();
      for (auto& [k, v] : *headers) h.headers.emplace_back(k, v);
    }
    for (const char* field : {"env", "cwd"})
      if (server.contains(field)) return bad(path + "." + field, "only for \"command\" servers");
    options.transport = std::move(h);
  }
  if (server.contains("timeout_ms")) {
    const auto& t = server["timeout_ms"];
    if (!t.is_number_integer() || t.get<long long>() < 1) return bad(path + ".timeout_ms", "expected a positive integer");
    options.request_timeout = std::chrono::milliseconds(t.get<long long>());
  }
  ServerToolsOptions tool_options;
  if (server.contains("tools")) {
    auto only = strings(server["tools"], path + ".tools");
    if (!only) return only.error();
    tool_options.only = std::move(*only);
  }
  if (server.contains("prefix")) {
    if (!server["prefix"].is_string()) return bad(path + ".prefix", "expected a string");
    tool_options.prefix = server["prefix"].get<std::string>();
    tool_options.no_prefix = tool_options.prefix.empty();
  }
  auto client = Client::connect(std::move(options));
  if (!client) return Error{client.error().code, path + ": " + client.error().message};
  auto tools = server_tools(*client, std::move(tool_options));
  if (!tools) return Error{tools.error().code, path + ": " + tools.error().message};
  return tools;
}

}  // namespace loomflow::mcp
