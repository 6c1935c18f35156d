// MCP protocol corners, against a scripted server (tests/mcp/scripted_server.cjs) over stdio and
// Streamable HTTP: pagination, list_changed, requests from the server, version negotiation,
// forgotten sessions, starting and exiting servers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>

#include "mcp_peers.hpp"

using namespace loomflow;
using loomflow::testing::HttpPeer;
using nlohmann::json;

namespace {

mcp::ServerOptions scripted(std::vector<std::string> extra = {}) {
  mcp::ServerOptions options;
  options.name = "scripted";
  options.transport = loomflow::testing::scripted_stdio(std::move(extra));
  return options;
}

std::unique_ptr<HttpPeer> scripted_http(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {loomflow::testing::scripted_js(), "--http"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<HttpPeer>(args);
}

mcp::ServerOptions over_http(const HttpPeer& peer) {
  mcp::ServerOptions options;
  options.name = "scripted";
  options.transport = mcp::HttpServer{peer.url(), {}};
  return options;
}

std::shared_ptr<mcp::Client> connect(mcp::ServerOptions options) {
  auto client = mcp::Client::connect(std::move(options));
  EXPECT_TRUE(client) << client.error().describe();
  return client ? *client : nullptr;
}

std::vector<std::string> names(const std::vector<mcp::ToolInfo>& tools) {
  std::vector<std::string> out;
  for (const auto& t : tools) out.push_back(t.name);
  return out;
}

json text_json(const Expected<mcp::CallResult>& result) {
  if (!result) return json{{"error", result.error().describe()}};
  return json::parse(result->text());
}

}  // namespace

TEST(McpProtocol, ToolsListFollowsEveryPage) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted());
  ASSERT_TRUE(client);
  auto tools = client->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools), (std::vector<std::string>{"tool-1", "tool-2", "tool-3", "tool-4", "tool-5", "tool-6"}));
  auto received = text_json(client->call_tool("received", json::object()));
  EXPECT_EQ(received, json::parse(R"(["initialize","notifications/initialized","tools/list","tools/list","tools/list","tools/call"])"));
}

TEST(McpProtocol, ListChangedEmptiesTheCacheAndTellsTheOwner) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  std::atomic<int> changes{0};
  auto options = scripted();
  options.on_tools_changed = [&] { ++changes; };
  auto client = connect(std::move(options));
  ASSERT_TRUE(client);
  ASSERT_EQ(client->list_tools()->size(), 6u);
  ASSERT_TRUE(client->call_tool("change-tools", json::object()));
  EXPECT_EQ(changes.load(), 1);  // the notification precedes the call's answer on the same stream
  auto tools = client->list_tools();
  ASSERT_TRUE(tools);
  EXPECT_EQ(tools->back().name, "added");
}

TEST(McpProtocol, ARequestFromTheServerWeDoNotSupportGetsMethodNotFound) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted());
  ASSERT_TRUE(client);
  auto reply = text_json(client->call_tool("ask-client", json::object()));
  EXPECT_EQ(reply["error"]["code"], -32601) << reply;
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("sampling/createMessage"), std::string::npos);
}

TEST(McpProtocol, APingFromTheServerIsAnswered) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted());
  ASSERT_TRUE(client);
  EXPECT_EQ(text_json(client->call_tool("ping-client", json::object())), json::parse(R"({"result":{}})"));
}

TEST(McpProtocol, AnOlderProtocolVersionTheServerPicksIsAccepted) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted({"--version", "2024-11-05"}));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->server_info().protocol_version, "2024-11-05");
  EXPECT_EQ(client->server_info().instructions, "A scripted test server.");
}

TEST(McpProtocol, AnUnknownProtocolVersionIsRefusedWithTheVersionsWeSpeak) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = mcp::Client::connect(scripted({"--version", "1999-01-01"}));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().message,
            "MCP server 'scripted' speaks protocol version '1999-01-01', which loomflow does not (it speaks "
            "2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)");
}

TEST(McpProtocol, AJsonRpcErrorNamesTheServerTheRequestAndTheCode) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted());
  ASSERT_TRUE(client);
  auto result = client->call_tool("nope", json::object());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(result.error().message,
            "MCP server 'scripted': tools/call 'nope' failed: Unknown tool: nope (JSON-RPC error -32602)");
}

TEST(McpProtocol, MetaFieldsTravelWithTheCall) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto client = connect(scripted());
  ASSERT_TRUE(client);
  mcp::CallOptions options;
  options.meta = {{"io.loomflow/idempotency-key", "s1/a#1/turn-1/tool-0"}};
  EXPECT_EQ(text_json(client->call_tool("echo-meta", json::object(), options)),
            json::parse(R"({"io.loomflow/idempotency-key":"s1/a#1/turn-1/tool-0"})"));
}

TEST(McpProtocol, ACommandThatCannotStartIsAClearError) {
  mcp::ServerOptions options;
  options.name = "ghost";
  options.transport = mcp::StdioServer{{"/nonexistent/mcp-server"}, {}, {}};
  auto client = mcp::Client::connect(std::move(options));
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().message.find("MCP server 'ghost'"), std::string::npos) << client.error().message;
  EXPECT_NE(client.error().message.find("/nonexistent/mcp-server"), std::string::npos) << client.error().message;
}

TEST(McpProtocol, AServerThatExitsAtOnceIsReportedWithItsStatusAndStderr) {
  mcp::ServerOptions options;
  options.name = "quitter";
  options.transport = mcp::StdioServer{{"sh", "-c", "echo 'config file missing' >&2; exit 3"}, {}, {}};
  auto client = mcp::Client::connect(std::move(options));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::unavailable);
  EXPECT_EQ(client.error().message,
            "MCP server 'quitter' exited with status 3; its stderr ended with: config file missing (during initialize)");
}

TEST(McpProtocol, AServerThatNeverAnswersInitializeTimesOut) {
  mcp::ServerOptions options;
  options.name = "mute";
  options.startup_timeout = std::chrono::milliseconds(100);
  options.transport = mcp::StdioServer{{"sh", "-c", "exec cat >/dev/null"}, {}, {}};
  auto client = mcp::Client::connect(std::move(options));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::deadline_exceeded);
  EXPECT_NE(client.error().message.find("MCP server 'mute': initialize timed out"), std::string::npos)
      << client.error().message;
}

TEST(McpProtocol, AServerThatKeepsDyingIsNotRestartedForever) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  // Starts once; every restart after that exits at once.
  const std::string flag = ::testing::TempDir() + "mcp-started-" + std::to_string(::getpid());
  std::remove(flag.c_str());
  auto options = scripted();
  options.transport = mcp::StdioServer{{"sh", "-c", "[ -e \"$0\" ] && exit 1; touch \"$0\"; exec node \"$1\"", flag,
                                        loomflow::testing::scripted_js()}, {}, {}};
  options.max_restarts = 2;
  auto client = connect(std::move(options));
  ASSERT_TRUE(client);
  ::kill(static_cast<pid_t>(client->server_pid()), SIGKILL);
  while (client->server_pid() != 0) std::this_thread::yield();  // the client has seen it die
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto failed = client->ping();
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("exited with status 1"), std::string::npos) << failed.error().message;
  }
  auto refused = client->ping();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("is down and was restarted 2 times in a row"), std::string::npos)
      << refused.error().message;
  std::remove(flag.c_str());
}

// ---- Streamable HTTP corners ----

TEST(McpProtocolHttp, JsonResponsesSessionHeadersAndDeleteOnClose) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto peer = scripted_http();
  ASSERT_TRUE(peer->running());
  const auto options = over_http(*peer);
  {
    auto client = connect(options);
    ASSERT_TRUE(client);
    ASSERT_EQ(client->list_tools()->size(), 6u);  // GET is 405 here: no server stream, still fine
  }
  auto client = connect(options);
  ASSERT_TRUE(client);
  auto received = text_json(client->call_tool("received", json::object()));
  // Everything after initialize carried MCP-Protocol-Version; the first client said goodbye with DELETE.
  EXPECT_EQ(received, json::parse(R"(["initialize","notifications/initialized","tools/list","tools/list","tools/list",
                                      "DELETE","initialize","notifications/initialized","tools/call"])"));
}

TEST(McpProtocolHttp, AForgottenSessionIsInitializedAgain) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto peer = scripted_http();
  ASSERT_TRUE(peer->running());
  const auto options = over_http(*peer);
  auto client = connect(options);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->call_tool("forget-session", json::object()));
  auto lost = client->ping();  // 404: this request is lost, the session with it
  ASSERT_FALSE(lost);
  EXPECT_NE(lost.error().message.find("MCP server 'scripted' no longer knows our session (HTTP 404)"), std::string::npos) << lost.error().message;
  auto again = client->ping();  // a new session
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(client->restarts(), 1);
}

TEST(McpProtocolHttp, ServerRequestsOnTheResponseStreamAreAnswered) {
  LOOMFLOW_REQUIRE_MCP_PEERS();
  auto peer = scripted_http();
  ASSERT_TRUE(peer->running());
  const auto options = over_http(*peer);
  auto client = connect(options);
  ASSERT_TRUE(client);
  auto reply = text_json(client->call_tool("ask-client", json::object()));
  EXPECT_EQ(reply["error"]["code"], -32601) << reply;
}

TEST(McpProtocolHttp, ARefusedConnectionIsAClearError) {
  mcp::ServerOptions options;
  options.name = "nobody";
  options.startup_timeout = std::chrono::milliseconds(5000);
  options.transport = mcp::HttpServer{"http://127.0.0.1:1/mcp", {}};
  auto client = mcp::Client::connect(std::move(options));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::unavailable);
  EXPECT_NE(client.error().message.find("MCP server 'nobody' (initialize)"), std::string::npos) << client.error().message;
}
