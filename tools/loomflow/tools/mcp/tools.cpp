#include "loomflow/tools/mcp/tools.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace loomflow::mcp {
namespace {

std::string fnv_hex(const std::string& text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string shorten(const std::string& name, const std::string& original) {
  const std::string suffix = "_" + fnv_hex(original);
  return name.substr(0, 64 - suffix.size()) + suffix;
}

}  // namespace

std::string tool_name(const std::string& prefix, const std::string& name) {
  std::string out = prefix + name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out.empty()) out = "_";
  if (out.size() > 64) out = shorten(out, prefix + name);
  return out;
}

Expected<std::vector<Tool>> server_tools(std::shared_ptr<Client> client, ServerToolsOptions options) {
  if (!client) return Error{ErrorCode::invalid_argument, "server_tools needs a connected MCP client"};
  auto listed = client->list_tools();
  if (!listed) return listed.error();
  const std::string prefix = options.no_prefix ? "" : options.prefix.empty() ? client->name() + "_" : options.prefix;
  std::set<std::string> wanted(options.only.begin(), options.only.end());
  std::set<std::string> used;
  std::vector<Tool> tools;
  for (const auto& info : *listed) {
    if (!wanted.empty() && !wanted.count(info.name)) continue;
    wanted.erase(info.name);
    std::string name = tool_name(prefix, info.name);
    if (used.count(name)) name = shorten(name, prefix + info.name);  // "a.b" and "a_b" both sanitise to "a_b"
    used.insert(name);
    std::string description = info.description.empty() ? info.title : info.description;
    const std::string server_tool = info.name;
    ToolFn fn = [client, server_tool](const ToolContext& ctx, std::string_view arguments) -> Expected<std::string> {
      auto args = nlohmann::json::parse(arguments, nullptr, false);
      if (args.is_discarded() || !(args.is_object() || args.is_null()))
        return Error{ErrorCode::invalid_argument, "the arguments of MCP tool '" + server_tool + "' must be a JSON object"};
      CallOptions call;
      call.meta = {{"io.loomflow/idempotency-key", std::string(ctx.idempotency_key)}};
      auto result = client->call_tool(server_tool, args, call);
      if (!result) return result.error();
      if (result->is_error) {
        const std::string text = result->text();
        return Error{ErrorCode::tool_error, text.empty() ? "MCP tool '" + server_tool + "' reported an error" : text};
      }
      return result->text();
    };
    ToolOptions tool_options;
    tool_options.blocking = true;
    tool_options.idempotent = info.idempotent();
    auto tool = Tool::function(name, std::move(description), info.input_schema.dump(), std::move(fn), tool_options);
    if (!tool)
      return Error{tool.error().code, "MCP server '" + client->name() + "', tool '" + info.name + "': " + tool.error().message};
    tools.push_back(std::move(*tool));
  }
  if (!wanted.empty())
    return Error{ErrorCode::invalid_argument, "MCP server '" + client->name() + "' has no tool named '" + *wanted.begin() + "'"};
  return tools;
}

}  // namespace loomflow::mcp
