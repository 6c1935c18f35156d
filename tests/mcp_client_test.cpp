// The MCP client against the real @modelcontextprotocol/server-everything, over stdio and over
// Streamable HTTP on 127.0.0.1: the same behaviours on both transports.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "mcp_peers.hpp"

using namespace loomflow;
using loomflow::testing::HttpPeer;
using nlohmann::json;

namespace {

enum class Via { stdio, http };

class McpEverything : public ::testing::TestWithParam<Via> {
 protected:
  void SetUp() override {
    LOOMFLOW_REQUIRE_MCP_PEERS();
    mcp::ServerOptions options;
    options.name = "everything";
    if (GetParam() == Via::stdio) {
      options.transport = loomflow::testing::everything_stdio();
    } else {
      peer_ = std::make_unique<HttpPeer>();
      ASSERT_TRUE(peer_->running()) << "server-everything did not start over HTTP";
      options.transport = mcp::HttpServer{peer_->url(), {}};
    }
    auto client = mcp::Client::connect(std::move(options));
    ASSERT_TRUE(client) << client.error().describe();
    client_ = std::move(*client);
  }
  void TearDown() override {
    client_.reset();
    peer_.reset();
  }

  std::unique_ptr<HttpPeer> peer_;
  std::shared_ptr<mcp::Client> client_;
};

std::string transport_name(const ::testing::TestParamInfo<Via>& info) {
  return info.param == Via::stdio ? "Stdio" : "StreamableHttp";
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Transports, McpEverything, ::testing::Values(Via::stdio, Via::http), transport_name);

TEST_P(McpEverything, InitializeNegotiatesTheNewestProtocolVersion) {
  const auto info = client_->server_info();
  EXPECT_EQ(info.protocol_version, "2025-11-25");
  EXPECT_EQ(info.name, "mcp-servers/everything");
  EXPECT_TRUE(info.capabilities.contains("tools"));
}

TEST_P(McpEverything, ListsEveryToolWithItsInputSchema) {
  auto tools = client_->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  std::map<std::string, mcp::ToolInfo> by_name;
  for (const auto& t : *tools) by_name[t.name] = t;
  for (const char* name : {"echo", "get-sum", "get-structured-content", "trigger-long-running-operation"})
    EXPECT_TRUE(by_name.count(name)) << name;
  EXPECT_EQ(by_name["get-sum"].input_schema["type"], "object");
  EXPECT_TRUE(by_name["get-sum"].input_schema["properties"].contains("a"));
  EXPECT_TRUE(by_name["get-sum"].idempotent());
  EXPECT_FALSE(by_name["get-structured-content"].output_schema.is_null());
}

TEST_P(McpEverything, EchoReturnsItsMessage) {
  auto result = client_->call_tool("echo", {{"message", "hello, über"}});
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_FALSE(result->is_error);
  EXPECT_EQ(result->text(), "Echo: hello, über");
}

TEST_P(McpEverything, GetSumAddsTwoNumbers) {
  auto result = client_->call_tool("get-sum", {{"a", 2.5}, {"b", 40}});
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->text(), "The sum of 2.5 and 40 is 42.5.");
}

TEST_P(McpEverything, AStructuredContentToolReturnsItsStructuredContent) {
  auto result = client_->call_tool("get-structured-content", {{"location", "Chicago"}});
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_TRUE(result->structured_content.is_object());
  EXPECT_TRUE(result->structured_content["temperature"].is_number());
  EXPECT_TRUE(result->structured_content["conditions"].is_string());
  EXPECT_EQ(json::parse(result->content.at(0).text), result->structured_content);
}

TEST_P(McpEverything, InvalidArgumentsComeBackAsAnErrorResult) {
  auto result = client_->call_tool("get-sum", {{"a", "two"}});
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_TRUE(result->is_error);
  EXPECT_NE(result->text().find("Invalid arguments for tool get-sum"), std::string::npos) << result->text();
}

TEST_P(McpEverything, AnUnknownToolComesBackAsAnErrorResult) {
  auto result = client_->call_tool("no-such-tool", json::object());
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_TRUE(result->is_error);
  EXPECT_NE(result->text().find("no-such-tool"), std::string::npos) << result->text();
}

TEST_P(McpEverything, ALongRunningOperationReportsProgressInOrder) {
  std::mutex mutex;
  std::vector<mcp::Progress> seen;
  mcp::CallOptions options;
  options.on_progress = [&](const mcp::Progress& p) {
    std::lock_guard<std::mutex> guard(mutex);
    seen.push_back(p);
  };
  auto result = client_->call_tool("trigger-long-running-operation", {{"duration", 0.3}, {"steps", 3}}, options);
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_NE(result->text().find("Long running operation completed"), std::string::npos);
  std::lock_guard<std::mutex> guard(mutex);
  ASSERT_EQ(seen.size(), 3u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].progress, static_cast<double>(i + 1));
    EXPECT_EQ(seen[i].total.value_or(0), 3.0);
  }
}

TEST_P(McpEverything, ARequestPastItsTimeoutFailsAndTheSessionGoesOn) {
  mcp::CallOptions options;
  options.timeout = std::chrono::milliseconds(100);  // one step of 2 s: no progress before the deadline
  auto slow = client_->call_tool("trigger-long-running-operation", {{"duration", 2}, {"steps", 1}}, options);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::deadline_exceeded);
  EXPECT_NE(slow.error().message.find("tools/call 'trigger-long-running-operation' timed out"), std::string::npos)
      << slow.error().message;
  auto next = client_->call_tool("get-sum", {{"a", 1}, {"b", 2}});
  ASSERT_TRUE(next) << next.error().describe();
  EXPECT_EQ(next->text(), "The sum of 1 and 2 is 3.");
}

TEST_P(McpEverything, ACancelledCallEndsAtOnceAndTheSessionGoesOn) {
  mcp::CallOptions options;
  options.cancel = std::make_shared<std::atomic<bool>>(false);
  options.on_progress = [cancel = options.cancel](const mcp::Progress&) { cancel->store(true); };
  auto call = client_->call_tool("trigger-long-running-operation", {{"duration", 30}, {"steps", 300}}, options);
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().code, ErrorCode::cancelled) << call.error().describe();
  EXPECT_TRUE(client_->ping());
}

TEST_P(McpEverything, ImageContentIsKeptAndSummarisedForTheModel) {
  auto result = client_->call_tool("get-tiny-image", json::object());
  ASSERT_TRUE(result) << result.error().describe();
  const mcp::Content* image = nullptr;
  for (const auto& c : result->content)
    if (c.type == "image") image = &c;
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->mime_type, "image/png");
  EXPECT_FALSE(image->data.empty());
  EXPECT_NE(result->text().find("[image image/png, "), std::string::npos) << result->text();
}

TEST_P(McpEverything, ConcurrentCallsEachGetTheirOwnAnswer) {
  std::vector<std::thread> threads;
  std::vector<std::string> answers(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto r = client_->call_tool("get-sum", {{"a", i}, {"b", 100}});
      answers[i] = r ? r->text() : r.error().describe();
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(answers[i], "The sum of " + std::to_string(i) + " and 100 is " + std::to_string(i + 100) + ".");
}

TEST_P(McpEverything, AServerKilledMidCallFailsThatCallWithAClearError) {
  mcp::CallOptions options;
  std::atomic<bool> killed{false};
  const long stdio_pid = client_->server_pid();
  const pid_t http_pid = peer_ ? peer_->pid() : 0;
  options.on_progress = [&](const mcp::Progress&) {
    if (killed.exchange(true)) return;
    ::kill(GetParam() == Via::stdio ? static_cast<pid_t>(stdio_pid) : -http_pid, SIGKILL);
  };
  auto call = client_->call_tool("trigger-long-running-operation", {{"duration", 30}, {"steps", 300}}, options);
  ASSERT_TRUE(killed.load());
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().code, ErrorCode::unavailable) << call.error().describe();
  if (GetParam() == Via::stdio) {
    EXPECT_NE(call.error().message.find("MCP server 'everything' was killed by signal 9"), std::string::npos)
        << call.error().message;
    EXPECT_NE(call.error().message.find("during tools/call 'trigger-long-running-operation'"), std::string::npos)
        << call.error().message;
    // The next request starts the server again.
    auto next = client_->call_tool("get-sum", {{"a", 1}, {"b", 1}});
    ASSERT_TRUE(next) << next.error().describe();
    EXPECT_EQ(next->text(), "The sum of 1 and 1 is 2.");
    EXPECT_EQ(client_->restarts(), 1);
    EXPECT_NE(client_->server_pid(), stdio_pid);
  } else {
    EXPECT_NE(call.error().message.find("MCP server 'everything'"), std::string::npos) << call.error().message;
    peer_->stop();
  }
}
