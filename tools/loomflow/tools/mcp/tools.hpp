// loomflow/tools/mcp/tools.hpp — an MCP server's tools as loomflow Tools an agent can call.
//
//   auto client = mcp::Client::connect({.name = "fs", .transport = mcp::StdioServer{{...}}});
//   auto tools = mcp::server_tools(*client);     // "fs_read_text_file", "fs_list_directory", ...
//
// Each tool keeps the server's description and input schema; the agent runtime validates the
// model's arguments against that schema before the call. A result with `isError` goes back to the
// model as a tool error (with the server's text), and so does a failed request (unknown tool,
// timeout, the server died); `structuredContent` reaches the model as JSON when the result has no
// text. Calls are blocking (they run on detached actors) and carry the run's idempotency key in
// `_meta` ("io.loomflow/idempotency-key"); a tool annotated idempotentHint is marked idempotent.
// Names are "<prefix><tool name>" with characters outside [A-Za-z0-9_-] replaced by '_' and, when
// that is longer than 64 characters or collides, shortened with a stable hash suffix.
// Thread-safety: the Tools share the Client, which is thread-safe; they keep it alive.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loomflow/tool.hpp"
#include "loomflow/tools/mcp/client.hpp"

namespace loomflow::mcp {

struct ServerToolsOptions {
  std::string prefix;               // default: the server's name and '_' ("everything_echo")
  bool no_prefix = false;           // use the server's tool names as they are (sanitised)
  std::vector<std::string> only;    // only these tools (server names); default: all
};

// Lists the server's tools (every page) and wraps each.
Expected<std::vector<Tool>> server_tools(std::shared_ptr<Client> client, ServerToolsOptions options = {});

// The loomflow name of `tool_name` under `prefix` (see above; without collision handling).
std::string tool_name(const std::string& prefix, const std::string& tool_name);

}  // namespace loomflow::mcp
