// loomflow/tools/mcp/spec_servers.hpp — the "mcp_servers" entries of a spec's agents, for
// SpecEnvironment::mcp_tools: reads one entry, connects the server and returns its tools.
//
//   {"name": "fs", "command": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"],
//    "env": {...}, "cwd": "...", "tools": ["read_text_file"], "prefix": "fs_", "timeout_ms": 30000}
//   {"name": "search", "url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ..."}}
//
// Malformed entries are `invalid_spec` errors naming the JSON path and field; a server that cannot
// be started or initialized is an error naming the path and the server's own message.
// Thread-safety: a pure function; the returned tools share their client.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/tool.hpp"

namespace loomflow::mcp {

Expected<std::vector<Tool>> tools_from_spec(const nlohmann::json& server, const std::string& json_path);

}  // namespace loomflow::mcp
