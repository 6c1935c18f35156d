// MCP servers' tools in agents: from C++ (mcp::server_tools) and from a spec ("mcp_servers"),
// against the real server-everything and server-filesystem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/mcp/spec_servers.hpp"
#include "loomflow/tools/mcp/tools.hpp"
#include "mcp_peers.hpp"
#include "subprocess.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::shared_runtime;
using nlohmann::json;

namespace {

std::shared_ptr<mcp::Client> connect_everything() {
  mcp::ServerOptions options;
  options.name = "everything";
  options.transport = loomflow::testing::everything_stdio();
  auto client = mcp::Client::connect(std::move(options));
  EXPECT_TRUE(client) << client.error().describe();
  return client ? *client : nullptr;
}

// A scratch directory with one file, for server-filesystem.
struct FsRoot {
  std::filesystem::path dir;
  FsRoot() {
    dir = std::filesystem::temp_directory_path() / ("loomflow-mcp-fs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "notes.txt") << "the launch code is 0000\n";
  }
  ~FsRoot() { std::filesystem::remove_all(dir); }
};

std::shared_ptr<mcp::Client> connect_filesystem(const std::filesystem::path& root) {
  mcp::ServerOptions options;
  options.name = "fs";
  options.transport = mcp::StdioServer{{"node", loomflow::testing::filesystem_js(), root.string()}, {}, {}};
  auto client = mcp::Client::connect(std::move(options));
  EXPECT_TRUE(client) << client.error().describe();
  return client ? *client : nullptr;
}

ToolCall call(std::string id, std::string name, json args) {
  return ToolCall{std::move(id), std::move(name), args.dump()};
}

}  // namespace

TEST(McpTools, EveryToolOfBothServersBecomesAToolUnderAStableName) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  FsRoot root;
  for (auto client : {connect_everything(), connect_filesystem(root.dir)}) {
    ASSERT_TRUE(client);
    auto listed = client->list_tools();
    auto tools = mcp::server_tools(client);
    ASSERT_TRUE(tools) << tools.error().describe();  // every server schema is usable
    ASSERT_EQ(tools->size(), listed->size());
    for (std::size_t i = 0; i < tools->size(); ++i)
      EXPECT_EQ((*tools)[i].name(), client->name() + "_" + (*listed)[i].name);
  }
}

TEST(McpTools, NamesAreSanitisedAndLongOnesShortenedStably) {
  EXPECT_EQ(mcp::tool_name("srv_", "files/read.v2"), "srv_files_read_v2");
  const std::string long_name(80, 'x');
  const auto shortened = mcp::tool_name("srv_", long_name);
  EXPECT_EQ(shortened.size(), 64u);
  EXPECT_EQ(shortened, mcp::tool_name("srv_", long_name));
  EXPECT_NE(shortened, mcp::tool_name("srv_", long_name + "y"));
}

TEST(McpTools, AnAgentCallsAServerToolAndReadsItsAnswer) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect_everything();
  ASSERT_TRUE(client);
  auto tools = mcp::server_tools(client, {.only = {"get-sum", "echo"}});
  ASSERT_TRUE(tools) << tools.error().describe();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "everything_get-sum", {{"a", 2}, {"b", 3}}),
                                  call("c2", "everything_echo", {{"message", "hi"}})}},
      {.text = "5", .expect = "Echo: hi"},  // the last message: the second call's result
  });
  auto agent = Agent::create({.name = "calc", .model = model, .tools = *tools}).value();
  auto result = shared_runtime().run(agent, "2+3?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "5");
  EXPECT_EQ(result->messages[2].content, "The sum of 2 and 3 is 5.");
  EXPECT_EQ(result->messages[3].content, "Echo: hi");
  EXPECT_TRUE(providers::verify_consumed(model));
}

TEST(McpTools, ArgumentsThatBreakTheServersSchemaNeverReachTheServer) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect_everything();
  ASSERT_TRUE(client);
  auto tools = mcp::server_tools(client, {.only = {"get-sum"}});
  ASSERT_TRUE(tools);
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "everything_get-sum", {{"a", "two"}, {"b", 3}})}},
      {.text = "sorry"},
  });
  auto agent = Agent::create({.name = "calc", .model = model, .tools = *tools}).value();
  auto result = shared_runtime().run(agent, "2+3?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->messages[2].content, "invalid arguments for tool 'everything_get-sum': $.a: expected number, got string");
  EXPECT_EQ(result->usage.tool_errors, 1u);
}

TEST(McpTools, AnErrorResultOfTheServerIsAToolErrorTheModelReads) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  FsRoot root;
  auto client = connect_filesystem(root.dir);
  ASSERT_TRUE(client);
  auto tools = mcp::server_tools(client, {.only = {"read_text_file"}});
  ASSERT_TRUE(tools);
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "fs_read_text_file", {{"path", (root.dir / "notes.txt").string()}}),
                                  call("c2", "fs_read_text_file", {{"path", "/etc/passwd"}})}},
      {.text = "done"},
  });
  auto agent = Agent::create({.name = "reader", .model = model, .tools = *tools}).value();
  auto result = shared_runtime().run(agent, "read");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->messages[2].content, "the launch code is 0000\n");
  EXPECT_TRUE(result->messages[3].is_error);
  EXPECT_NE(result->messages[3].content.find("Access denied - path outside allowed directories"), std::string::npos)
      << result->messages[3].content;
}

TEST(McpSpec, AMalformedServerEntryNamesItsPath) {
  auto tools = mcp::tools_from_spec(json::parse(R"({"name":"x","command":["a"],"url":"http://h"})"), "$.agents.a.mcp_servers[0]");
  ASSERT_FALSE(tools);
  EXPECT_EQ(tools.error().message,
            "$.agents.a.mcp_servers[0]: give either \"command\" (stdio) or \"url\" (Streamable HTTP)");
  auto typo = mcp::tools_from_spec(json::parse(R"({"name":"x","comand":["a"]})"), "$.m[0]");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message, "$.m[0].comand: unknown field");
}

TEST(McpSpec, ASpecAgentGetsItsServersToolsAndTheCliRunsIt) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  const json spec = {
      {"loomflow", 1},
      {"name", "mcp_spec"},
      {"agents",
       {{"calc",
         {{"model", "scripted"},
          {"mcp_servers", json::array({{{"name", "ev"},
                                        {"command", {"node", loomflow::testing::everything_js(), "stdio"}},
                                        {"tools", {"get-sum"}}}})},
          {"script", json::array({{{"text", ""},
                                   {"tool_calls", json::array({{{"name", "ev_get-sum"}, {"arguments", {{"a", 20}, {"b", 22}}}}})}},
                                  {{"text", "42"}, {"expect", "The sum of 20 and 22 is 42."}}})}}}}},
      {"workflow", {{"entry", "calc"}, {"nodes", {{"calc", {{"type", "agent"}, {"agent", "calc"}}}}}}}};
  const auto path = std::filesystem::temp_directory_path() / ("loomflow-mcp-spec-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << spec.dump(2);
  auto outcome = loomflow::testing::run_process(LOOMFLOW_CLI, {"run", path.string(), "--input", "20+22?", "--json"});
  std::filesystem::remove(path);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.out;
  auto result = json::parse(outcome.out);
  EXPECT_EQ(result["output"], "42");
  EXPECT_EQ(result["usage"]["tool_calls"], 1);
  EXPECT_EQ(result["usage"]["tool_errors"], 0);
}

TEST(McpBench, T3MeasuresRoundTripsAgainstServerEverything) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto outcome = loomflow::testing::run_process(
      LOOMFLOW_CLI, {"bench", "--json", "-w", "T3", "--mcp-command", "node " + loomflow::testing::everything_js() + " stdio"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.out;
  auto line = json::parse(outcome.out);
  EXPECT_EQ(line["workload"], "T3");
  EXPECT_GT(line["us_per_call"].get<double>(), 0.0);
  EXPECT_GT(line["concurrent_calls_per_sec"].get<double>(), 0.0);
}
