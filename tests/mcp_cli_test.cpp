// `loomflow mcp tools|call` against the real server-everything, over stdio and Streamable HTTP.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "mcp_peers.hpp"
#include "scratch.hpp"

using loomflow::testing::execute;
using loomflow::testing::HttpPeer;
using nlohmann::json;

namespace {

std::vector<std::string> with_stdio_server(std::vector<std::string> args) {
  args.insert(args.end(), {"--", "node", loomflow::testing::everything_js(), "stdio"});
  return args;
}

}  // namespace

TEST(McpCli, ToolsListsTheServersToolsOverStdio) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto r = execute(LOOMFLOW_CLI, with_stdio_server({"mcp", "tools"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("mcp-servers/everything"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(MCP 2025-11-25)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  get-sum  Returns the sum of two numbers"), std::string::npos) << r.out;
}

TEST(McpCli, ToolsJsonCarriesEachInputSchema) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto r = execute(LOOMFLOW_CLI, with_stdio_server({"mcp", "tools", "--json"}));
  ASSERT_EQ(r.status, 0) << r.err;
  auto tools = json::parse(r.out);
  bool found = false;
  for (const auto& t : tools)
    if (t["name"] == "echo") {
      found = true;
      EXPECT_EQ(t["inputSchema"]["type"], "object");
    }
  EXPECT_TRUE(found) << r.out;
}

TEST(McpCli, CallPrintsTheResultAndProgressGoesToStderr) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto sum = execute(LOOMFLOW_CLI, with_stdio_server({"mcp", "call", "--tool", "get-sum", "--args", R"({"a":2,"b":3})"}));
  ASSERT_EQ(sum.status, 0) << sum.err;
  EXPECT_EQ(sum.out, "The sum of 2 and 3 is 5.\n");
  auto slow = execute(LOOMFLOW_CLI, with_stdio_server({"mcp", "call", "--tool", "trigger-long-running-operation", "--args",
                                                       R"({"duration":0.2,"steps":2})"}));
  ASSERT_EQ(slow.status, 0) << slow.err;
  EXPECT_EQ(slow.err, "progress 1/2\nprogress 2/2\n");
}

TEST(McpCli, AnErrorResultExitsWithOne) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto r = execute(LOOMFLOW_CLI, with_stdio_server({"mcp", "call", "--tool", "get-sum", "--args", R"({"a":"x"})"}));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("Invalid arguments for tool get-sum"), std::string::npos) << r.err;
}

TEST(McpCli, CallOverStreamableHttpPrintsJson) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  HttpPeer peer;
  ASSERT_TRUE(peer.running());
  auto r = execute(LOOMFLOW_CLI, {"mcp", "call", "--url", peer.url(), "--tool", "get-structured-content", "--args",
                                  R"({"location":"New York"})", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto result = json::parse(r.out);
  EXPECT_FALSE(result["isError"].get<bool>());
  EXPECT_TRUE(result["structuredContent"]["temperature"].is_number()) << r.out;
}

TEST(McpCli, BadUsageExitsWithTwo) {
  auto neither = execute(LOOMFLOW_CLI, {"mcp", "tools"});
  EXPECT_EQ(neither.status, 2);
  EXPECT_NE(neither.err.find("give either a server command after -- or --url URL"), std::string::npos) << neither.err;
  auto bad_args = execute(LOOMFLOW_CLI, {"mcp", "call", "--tool", "x", "--args", "[1]", "--url", "http://127.0.0.1:1/mcp"});
  EXPECT_EQ(bad_args.status, 2);
  EXPECT_NE(bad_args.err.find("--args must be a JSON object"), std::string::npos) << bad_args.err;
}

TEST(McpCli, AServerThatCannotStartIsAnErrorNamingIt) {
  auto r = execute(LOOMFLOW_CLI, {"mcp", "tools", "--", "/nonexistent/server"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot start '/nonexistent/server'"), std::string::npos) << r.err;
}

TEST(McpCli, GraphDrawsASpecWithoutStartingItsMcpServers) {
  loomflow::testing::TempDir dir("loomflow-mcp-graph");
  const auto spec = dir.path() / "spec.json";
  std::ofstream(spec) << R"({"loomflow": 1, "name": "g",
    "agents": {"a": {"model": "echo", "mcp_servers": [{"name": "ghost", "command": ["/nonexistent/server"]}]}},
    "workflow": {"nodes": {"a": {"type": "agent", "agent": "a"}}}})";
  auto r = execute(LOOMFLOW_CLI, {"graph", spec.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("flowchart"), std::string::npos) << r.out;
  auto run = execute(LOOMFLOW_CLI, {"run", spec.string(), "--input", "hi"});
  EXPECT_EQ(run.status, 2);  // running it must start the server, which cannot start
  EXPECT_NE(run.err.find("$.agents.a.mcp_servers[0]: MCP server 'ghost'"), std::string::npos) << run.err;
}
