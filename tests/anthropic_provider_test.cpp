// The Anthropic Messages provider against a real loopback server replaying recorded traffic.
#include <gtest/gtest.h>

#include "loomflow/providers/dialects.hpp"
#include "loopback_server.hpp"
#include "test_support.hpp"

using namespace loomflow;
using namespace loomflow::providers;
using loomflow::testing::CannedResponse;
using loomflow::testing::LoopbackServer;
using loomflow::testing::read_fixture;
using loomflow::testing::shared_runtime;

namespace {

constexpr const char* kKey = "sk-ant-test-0000";

Model claude(LoopbackServer& server, bool stream = false) {
  HttpModelOptions o;
  o.base_url = server.url();
  o.api_key = kKey;
  o.call.stream = stream;
  o.retry.initial_backoff = std::chrono::milliseconds(1);
  o.retry.max_backoff = std::chrono::milliseconds(4);
  return Model{std::make_shared<HttpModelProvider>(std::make_shared<http::HttpClient>(), anthropic_dialect(), o),
               "claude-haiku-4-5"};
}

CannedResponse body(const std::string& fixture) { return CannedResponse{200, {}, read_fixture(fixture)}; }

CannedResponse sse(const std::string& fixture) {
  CannedResponse r{200, {}, read_fixture(fixture)};
  r.sse = true;
  return r;
}

Tool weather_tool() {
  return Tool::function("get_weather", "Weather for a location.",
                        R"({"type":"object","properties":{"location":{"type":"string"},"units":{"type":"string"}},"required":["location"]})",
                        [](const ToolContext&, std::string_view args) -> Expected<std::string> {
                          return "68F and sunny for " + std::string(args);
                        })
      .value();
}

Agent agent_with(Model model, std::vector<Tool> tools = {}) {
  return Agent::create({.name = "claude_agent", .instructions = "Be brief.", .model = std::move(model), .tools = std::move(tools)})
      .value();
}

}  // namespace

TEST(AnthropicProvider, ATextAnswerBecomesTheOutputAndTheKeyGoesInXApiKey) {
  LoopbackServer server;
  server.push(body("anthropic/messages/nonstream-text.body.json"));
  auto result = shared_runtime().run(agent_with(claude(server)), "Weather in SF?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_NE(result->output.find("68"), std::string::npos) << result->output;
  EXPECT_EQ(result->usage.input_tokens, 770u);
  EXPECT_EQ(result->usage.output_tokens, 26u);
  auto request = server.requests().at(0);
  EXPECT_EQ(request.path, "/v1/messages");
  EXPECT_EQ(request.headers.find("x-api-key")->second, kKey);
  EXPECT_EQ(request.headers.find("anthropic-version")->second, "2023-06-01");
  auto json = request.json();
  EXPECT_EQ(json["system"], "Be brief.");
  EXPECT_EQ(json["model"], "claude-haiku-4-5");
  EXPECT_TRUE(json["max_tokens"].is_number_integer());
}

TEST(AnthropicProvider, AToolUseRoundTripSendsTheResultAsAToolResultBlock) {
  LoopbackServer server;
  server.push(body("anthropic/messages/nonstream-tool-use.body.json"));
  server.push(body("anthropic/messages/nonstream-text.body.json"));
  auto result = shared_runtime().run(agent_with(claude(server), {weather_tool()}), "Weather in SF?");
  ASSERT_TRUE(result) << result.error().describe();
  auto second = server.requests().at(1).json();
  const auto& messages = second["messages"];
  ASSERT_EQ(messages.size(), 3u) << messages.dump();
  EXPECT_EQ(messages[1]["content"][0]["type"], "tool_use");
  EXPECT_EQ(messages[2]["role"], "user");
  EXPECT_EQ(messages[2]["content"][0]["type"], "tool_result");
  EXPECT_EQ(messages[2]["content"][0]["tool_use_id"], "toolu_016xm9m1i3NcGW5xFMMZJTqY");
  EXPECT_EQ(second["tools"][0]["name"], "get_weather");
}

TEST(AnthropicProvider, AStreamedToolUseIsAssembledFromPartialJson) {
  LoopbackServer server;
  server.push(sse("anthropic/messages/stream-tool-use.sse"));
  server.push(sse("anthropic/messages/stream-text.sse"));  // every call of a streaming model streams
  auto result = shared_runtime().run(agent_with(claude(server, /*stream=*/true), {weather_tool()}), "Weather?");
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_GE(result->messages.size(), 4u);
  const auto& calls = result->messages[2].tool_calls;
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_NE(calls[0].arguments.find("location"), std::string::npos) << calls[0].arguments;
  EXPECT_EQ(server.requests().at(0).json()["stream"], true);
}

TEST(AnthropicProvider, OverloadedIsRetriedThenSucceeds) {
  LoopbackServer server;
  server.push(CannedResponse::from_error_fixture("anthropic/errors/529-overloaded.json"));
  server.push(body("anthropic/messages/nonstream-text.body.json"));
  auto result = shared_runtime().run(agent_with(claude(server)), "hi");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(AnthropicProvider, AnInvalidRequestIsNotRetriedAndNamesTheErrorType) {
  LoopbackServer server;
  auto bad = CannedResponse{400, {}, read_fixture("anthropic/errors/400-invalid-request.recorded.body.json")};
  server.push(bad);
  auto result = shared_runtime().run(agent_with(claude(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::model_error);
  EXPECT_NE(result.error().message.find("anthropic model 'claude-haiku-4-5': HTTP 400 invalid_request_error"),
            std::string::npos)
      << result.error().message;
  EXPECT_EQ(result.error().message.find(kKey), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(AnthropicProvider, AnErrorEventMidStreamFailsTheCallWithItsType) {
  LoopbackServer server;
  server.push(sse("anthropic/messages/stream-text-then-overloaded-error.sse"));
  auto result = shared_runtime().run(agent_with(claude(server, /*stream=*/true)), "hi");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("overloaded_error"), std::string::npos) << result.error().message;
}

TEST(AnthropicProvider, StructuredOutputIsAStrictToolWhoseInputBecomesTheAnswer) {
  LoopbackServer server;
  // The model answers by calling the structured_output tool.
  nlohmann::json reply = nlohmann::json::parse(read_fixture("anthropic/messages/nonstream-tool-use.body.json"));
  reply["content"][0]["name"] = "structured_output";
  reply["content"][0]["input"] = {{"city", "San Francisco"}, {"units", "f"}};
  server.push(CannedResponse{200, {}, reply.dump()});
  auto agent = Agent::create({.name = "typed",
                              .model = claude(server),
                              .output_schema = R"({"type":"object","properties":{"city":{"type":"string"},"units":{"enum":["c","f"]}},"required":["city"]})"})
                   .value();
  auto result = shared_runtime().run(agent, "weather as JSON");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(nlohmann::json::parse(result->output)["city"], "San Francisco");
  auto request = server.requests().at(0).json();
  EXPECT_EQ(request["tools"][0]["name"], "structured_output");
  EXPECT_EQ(request["tool_choice"]["name"], "structured_output");
}

TEST(AnthropicProvider, TheKeyIsAcceptedByAServerThatChecksEitherHeaderForm) {
  LoopbackServer server;
  server.require_key(kKey);
  server.push(body("anthropic/messages/nonstream-text.body.json"));
  auto result = shared_runtime().run(agent_with(claude(server)), "hi");
  ASSERT_TRUE(result) << result.error().describe();
}

TEST(AnthropicProvider, AWrongKeyIsAnAuthenticationErrorThatIsNotRetried) {
  LoopbackServer server;
  server.require_key("sk-ant-the-right-one");
  auto result = shared_runtime().run(agent_with(claude(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("HTTP 401 authentication_error"), std::string::npos) << result.error().message;
  EXPECT_EQ(result.error().message.find(kKey), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);
}
