// `loomflow mcp tools|call`: connect to one MCP server (stdio command after `--`, or --url), list
// its tools or call one. Progress notifications of a call are printed on stderr.
#include <iostream>

#include "commands.hpp"
#include "loomflow/tools/mcp/client.hpp"

namespace loomflow::cli {
namespace {

using nlohmann::json;

Expected<mcp::ServerOptions> server_options(const McpArgs& args) {
  mcp::ServerOptions options;
  options.request_timeout = std::chrono::milliseconds(args.timeout_ms);
  if (args.command.empty() == args.url.empty())
    return Error{ErrorCode::invalid_argument, "give either a server command after -- or --url URL (not both)"};
  if (!args.url.empty()) {
    mcp::HttpServer http{args.url, {}};
    for (const auto& header : args.headers) {
      const auto colon = header.find(':');
      if (colon == std::string::npos || colon == 0)
        return Error{ErrorCode::invalid_argument, "--header '" + header + "' is not \"Name: value\""};
      std::string value = header.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      http.headers.emplace_back(header.substr(0, colon), value);
    }
    options.name = args.url;
    options.transport = std::move(http);
  } else {
    options.name = args.command.front();
    options.transport = mcp::StdioServer{args.command, {}, {}};
  }
  return options;
}

int fail(const char* command, const Error& error) {
  std::cerr << "loomflow mcp " << command << ": " << error.message << "\n";
  return error.code == ErrorCode::invalid_argument ? 2 : 1;
}

json content_json(const mcp::Content& c) {
  json out = {{"type", c.type}};
  if (!c.text.empty()) out["text"] = c.text;
  if (!c.data.empty()) out["data"] = c.data;
  if (!c.mime_type.empty()) out["mimeType"] = c.mime_type;
  if (!c.uri.empty()) out["uri"] = c.uri;
  return out;
}

}  // namespace

int mcp_tools_command(const McpArgs& args) {
  auto options = server_options(args);
  if (!options) return fail("tools", options.error());
  auto client = mcp::Client::connect(std::move(*options));
  if (!client) return fail("tools", client.error());
  auto tools = (*client)->list_tools();
  if (!tools) return fail("tools", tools.error());
  if (args.json) {
    json out = json::array();
    for (const auto& t : *tools) {
      json entry = {{"name", t.name}, {"description", t.description}, {"inputSchema", t.input_schema}};
      if (!t.title.empty()) entry["title"] = t.title;
      if (!t.output_schema.is_null()) entry["outputSchema"] = t.output_schema;
      if (!t.annotations.is_null()) entry["annotations"] = t.annotations;
      out.push_back(std::move(entry));
    }
    std::cout << out.dump() << "\n";
    return 0;
  }
  const auto info = (*client)->server_info();
  std::cout << info.name << " " << info.version << " (MCP " << info.protocol_version << "): " << tools->size()
            << " tools\n";
  for (const auto& t : *tools) {
    std::string description = t.description.substr(0, t.description.find('\n'));
    std::cout << "  " << t.name << (description.empty() ? "" : "  " + description) << "\n";
  }
  return 0;
}

int mcp_call_command(const McpArgs& args) {
  auto arguments = json::parse(args.args, nullptr, false);
  if (arguments.is_discarded() || !arguments.is_object())
    return fail("call", Error{ErrorCode::invalid_argument, "--args must be a JSON object, got: " + args.args});
  auto options = server_options(args);
  if (!options) return fail("call", options.error());
  auto client = mcp::Client::connect(std::move(*options));
  if (!client) return fail("call", client.error());
  mcp::CallOptions call;
  call.on_progress = [](const mcp::Progress& p) {
    std::cerr << "progress " << p.progress;
    if (p.total) std::cerr << "/" << *p.total;
    if (!p.message.empty()) std::cerr << " " << p.message;
    std::cerr << std::endl;
  };
  auto result = (*client)->call_tool(args.tool, arguments, call);
  if (!result) return fail("call", result.error());
  if (args.json) {
    json out = {{"content", json::array()}, {"isError", result->is_error}};
    for (const auto& c : result->content) out["content"].push_back(content_json(c));
    if (!result->structured_content.is_null()) out["structuredContent"] = result->structured_content;
    std::cout << out.dump() << "\n";
  } else {
    (result->is_error ? std::cerr : std::cout) << result->text() << "\n";
  }
  return result->is_error ? 1 : 0;
}

}  // namespace loomflow::cli
