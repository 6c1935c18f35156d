// HTTP model providers against a real loopback server that replays recorded OpenAI traffic:
// text, streams, parallel tool calls, structured output, retries, errors, timeouts.
#include <gtest/gtest.h>

#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/resolve.hpp"
#include "loopback_server.hpp"
#include "test_support.hpp"

using namespace loomflow;
using namespace loomflow::providers;
using loomflow::testing::CannedResponse;
using loomflow::testing::LoopbackServer;
using loomflow::testing::read_fixture;
using loomflow::testing::shared_runtime;

namespace {

constexpr const char* kKey = "sk-test-secret-0000";

Model openai_model(LoopbackServer& server, bool stream = false, int attempts = 3,
                   std::chrono::milliseconds total_timeout = std::chrono::seconds(30)) {
  HttpModelOptions o;
  o.base_url = server.url() + "/v1";
  o.api_key = kKey;
  o.provider_name = "openai";
  o.call.stream = stream;
  o.retry.max_attempts = attempts;
  o.retry.initial_backoff = std::chrono::milliseconds(1);
  o.retry.max_backoff = std::chrono::milliseconds(4);
  o.total_timeout = total_timeout;
  auto provider = std::make_shared<HttpModelProvider>(std::make_shared<http::HttpClient>(), openai_dialect(), o);
  return Model{provider, "gpt-4o"};
}

CannedResponse ok_json(const std::string& fixture) { return CannedResponse{200, {}, read_fixture(fixture)}; }

CannedResponse ok_sse(const std::string& fixture, std::size_t cut_after = 0) {
  CannedResponse r{200, {}, read_fixture(fixture)};
  r.sse = true;
  r.cut_after = cut_after;
  return r;
}

Agent agent_with(Model model, std::vector<Tool> tools = {}, std::string schema = "") {
  return Agent::create({.name = "assistant",
                        .instructions = "Be brief.",
                        .model = std::move(model),
                        .tools = std::move(tools),
                        .output_schema = std::move(schema)})
      .value();
}

Tool named_tool(std::string name) {
  return Tool::function(name, "test tool", "", [name](const ToolContext&, std::string_view args) -> Expected<std::string> {
           return name + " says " + std::string(args);
         }).value();
}

}  // namespace

TEST(OpenAIProvider, ANonStreamedAnswerBecomesTheAgentsOutput) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-text.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "What's the weather like in SF?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output.rfind("I'm unable to provide real-time weather updates.", 0), 0u) << result->output;
  EXPECT_EQ(result->usage.input_tokens, 14u);
  EXPECT_EQ(result->usage.output_tokens, 37u);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_EQ(requests[0].headers.find("Authorization")->second, std::string("Bearer ") + kKey);
  auto body = requests[0].json();
  EXPECT_EQ(body["model"], "gpt-4o");
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "What's the weather like in SF?");
}

TEST(OpenAIProvider, AStreamedAnswerIsAssembledFromItsDeltas) {
  LoopbackServer server;
  server.push(ok_sse("openai/chat/stream-text.sse"));
  auto result = shared_runtime().run(agent_with(openai_model(server, /*stream=*/true)), "weather?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_FALSE(result->output.empty());
  auto body = server.requests().at(0).json();
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_GT(result->usage.output_tokens, 0u);
}

TEST(OpenAIProvider, ParallelToolCallsRunAndTheirResultsGoBackInCallOrder) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-parallel-tool-calls.json"));
  server.push(ok_json("openai/chat/nonstream-text.json"));
  auto agent = agent_with(openai_model(server), {named_tool("GetWeatherArgs"), named_tool("get_stock_price")});
  auto result = shared_runtime().run(agent, "weather and stock");
  ASSERT_TRUE(result) << result.error().describe();
  auto second = server.requests().at(1).json();
  const auto& messages = second["messages"];
  ASSERT_EQ(messages.size(), 5u) << messages.dump();  // system, user, assistant(tool_calls), 2 tool results
  EXPECT_EQ(messages[2]["tool_calls"].size(), 2u);
  EXPECT_EQ(messages[3]["role"], "tool");
  EXPECT_EQ(messages[3]["tool_call_id"], "call_fdNz3vOBKYgOIpMdWotB9MjY");
  EXPECT_EQ(messages[4]["tool_call_id"], "call_h1DWI1POMJLb0KwIyQHWXD4p");
  EXPECT_EQ(messages[4]["content"].get<std::string>().rfind("get_stock_price says", 0), 0u);
  EXPECT_EQ(result->usage.model_calls, 2u);
}

TEST(OpenAIProvider, StructuredOutputIsRequestedAndValidated) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-json-schema.json"));
  const std::string schema =
      R"({"type":"object","properties":{"city":{"type":"string"},"temperature":{"type":"number"},"units":{"enum":["c","f"]}},"required":["city","temperature","units"],"additionalProperties":false})";
  auto result = shared_runtime().run(agent_with(openai_model(server), {}, schema), "weather in SF as JSON");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(nlohmann::json::parse(result->output)["city"], "San Francisco");
  auto body = server.requests().at(0).json();
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["response_format"]["json_schema"]["strict"], true);
}

TEST(OpenAIProvider, StructuredOutputThatViolatesTheSchemaFailsNamingTheViolation) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-json-schema.json"));
  const std::string schema = R"({"type":"object","properties":{"units":{"enum":["c"]}}})";
  auto result = shared_runtime().run(agent_with(openai_model(server), {}, schema), "weather");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::output_schema_violation);
  EXPECT_NE(result.error().message.find("$.units"), std::string::npos) << result.error().message;
}

TEST(OpenAIProvider, ARateLimitIsRetriedAfterTheServersDelay) {
  LoopbackServer server;
  auto limited = CannedResponse::from_error_fixture("openai/errors/429-rate-limit-tokens.json");
  for (auto& [k, v] : limited.headers)
    if (k == "retry-after-ms") v = "5";
    else if (k == "retry-after") v = "0";
  server.push(limited);
  server.push(ok_json("openai/chat/nonstream-text.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[0].body, server.requests()[1].body);  // a retry repeats the identical body
}

TEST(OpenAIProvider, AServerErrorIsRetriedThenSucceeds) {
  LoopbackServer server;
  server.push(CannedResponse::from_error_fixture("openai/errors/500-server-error.json"));
  server.push(ok_json("openai/chat/nonstream-text.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(OpenAIProvider, RetriesAreBoundedByMaxAttempts) {
  LoopbackServer server;
  for (int i = 0; i < 3; ++i) server.push(CannedResponse::from_error_fixture("openai/errors/500-server-error.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server, false, 3)), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unavailable);
  EXPECT_NE(result.error().message.find("(after 3 attempts)"), std::string::npos) << result.error().message;
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(OpenAIProvider, XShouldRetryFalseForbidsARetry) {
  LoopbackServer server;
  auto error = CannedResponse::from_error_fixture("openai/errors/500-server-error.json");
  error.headers.emplace_back("x-should-retry", "false");
  server.push(error);
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAIProvider, AnInvalidKeyIsNotRetriedAndTheErrorNamesTheApiErrorButNotTheKey) {
  LoopbackServer server;
  server.push(CannedResponse::from_error_fixture("openai/errors/401-invalid-api-key.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::model_error);
  const auto& message = result.error().message;
  EXPECT_NE(message.find("openai model 'gpt-4o': HTTP 401 invalid_request_error (invalid_api_key)"), std::string::npos)
      << message;
  EXPECT_EQ(message.find(kKey), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAIProvider, AContextLengthErrorSurfacesItsCode) {
  LoopbackServer server;
  server.push(CannedResponse::from_error_fixture("openai/errors/400-context-length-exceeded.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("context_length_exceeded"), std::string::npos) << result.error().message;
}

TEST(OpenAIProvider, ATruncatedStreamIsAClearErrorAndIsNotRetried) {
  LoopbackServer server;
  server.push(ok_sse("openai/chat/stream-text.sse", /*cut_after=*/200));
  auto result = shared_runtime().run(agent_with(openai_model(server, /*stream=*/true)), "hi");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("truncated stream"), std::string::npos) << result.error().message;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAIProvider, AMalformedBodyIsAnErrorNamingTheProviderAndModel) {
  LoopbackServer server;
  server.push(CannedResponse{200, {}, "{\"choices\": [ {\"message\": "});
  auto result = shared_runtime().run(agent_with(openai_model(server)), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::model_error);
  EXPECT_NE(result.error().message.find("openai model 'gpt-4o'"), std::string::npos) << result.error().message;
}

TEST(OpenAIProvider, ACallPastItsTotalTimeoutFails) {
  LoopbackServer server;
  CannedResponse slow = ok_json("openai/chat/nonstream-text.json");
  slow.hold = true;  // answered only when the test releases it, after the client gave up
  server.push(slow);
  auto result = shared_runtime().run(agent_with(openai_model(server, false, 1, std::chrono::milliseconds(300))), "hi");
  server.release();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unavailable);
  EXPECT_NE(result.error().message.find("timed out"), std::string::npos) << result.error().message;
}

TEST(OpenAIProvider, ARefusedConnectionIsRetriedThenReported) {
  std::string dead_url;
  {
    LoopbackServer gone;
    dead_url = gone.url();
  }
  HttpModelOptions o;
  o.base_url = dead_url + "/v1";
  o.api_key = kKey;
  o.retry.max_attempts = 2;
  o.retry.initial_backoff = std::chrono::milliseconds(1);
  auto provider = std::make_shared<HttpModelProvider>(std::make_shared<http::HttpClient>(), openai_dialect(), o);
  auto result = shared_runtime().run(agent_with(Model{provider, "gpt-4o"}), "hi");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unavailable);
  EXPECT_NE(result.error().message.find("(after 2 attempts)"), std::string::npos) << result.error().message;
}

TEST(ModelResolution, BareOpenAINamesAndPrefixesPickTheRightApi) {
  ProviderEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "OPENAI_API_KEY") return "sk-o";
    if (name == "ANTHROPIC_API_KEY") return "sk-a";
    return std::nullopt;
  };
  for (auto [name, provider, model] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"gpt-4.1-mini", "openai", "gpt-4.1-mini"},
           {"o4-mini", "openai", "o4-mini"},
           {"openai:gpt-4o", "openai", "gpt-4o"},
           {"claude-haiku-4-5", "anthropic", "claude-haiku-4-5"},
           {"anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"}}) {
    auto m = resolve_model(name, {}, env);
    ASSERT_TRUE(m) << name << ": " << m.error().describe();
    EXPECT_EQ(m->provider->name(), provider) << name;
    EXPECT_EQ(m->name, model) << name;
  }
  EXPECT_EQ(resolve_model("echo", {}, env)->provider->name(), "echo");
}

TEST(ModelResolution, AMissingKeyNamesTheVariableToSet) {
  ProviderEnvironment env;
  env.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto m = resolve_model("gpt-4.1-mini", {}, env);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("set OPENAI_API_KEY"), std::string::npos) << m.error().message;
  auto a = resolve_model("claude-haiku-4-5", {.api_key_env = "MY_CLAUDE_KEY"}, env);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("set MY_CLAUDE_KEY"), std::string::npos) << a.error().message;
}

TEST(ModelResolution, ACompatModelNeedsABaseUrl) {
  ProviderEnvironment env;
  env.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto m = resolve_model("compat:llama3.1", {}, env);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("OPENAI_BASE_URL"), std::string::npos);
  auto ok = resolve_model("compat:llama3.1", {.base_url = "http://127.0.0.1:11434/v1"}, env);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->provider->name(), "compat");
}

TEST(ModelResolution, AnUnknownNameListsWhatIsAccepted) {
  ProviderEnvironment env;
  auto m = resolve_model("llama-3", {}, env);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("compat:<model>"), std::string::npos);
}

TEST(ModelResolution, TheEnvironmentsBaseUrlAndKeyReachTheWire) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-text.json"));
  ProviderEnvironment env;
  const std::string base = server.url() + "/v1/";
  env.getenv = [base](const std::string& name) -> std::optional<std::string> {
    if (name == "OPENAI_BASE_URL") return base;
    if (name == "OPENAI_API_KEY") return "sk-env";
    return std::nullopt;
  };
  auto model = resolve_model("gpt-4.1-mini", {.headers = {{"x-team", "loom"}}}, env);
  ASSERT_TRUE(model) << model.error().describe();
  auto result = shared_runtime().run(agent_with(*model), "hi");
  ASSERT_TRUE(result) << result.error().describe();
  auto request = server.requests().at(0);
  EXPECT_EQ(request.path, "/v1/chat/completions");
  EXPECT_EQ(request.headers.find("Authorization")->second, "Bearer sk-env");
  EXPECT_EQ(request.headers.find("x-team")->second, "loom");
  EXPECT_EQ(request.json()["model"], "gpt-4.1-mini");
}

TEST(OpenAIProvider, CancellingARunAbortsItsHttpCallPromptly) {
  LoopbackServer server;
  CannedResponse slow = ok_json("openai/chat/nonstream-text.json");
  slow.hold = true;  // never answered while the test runs
  server.push(slow);
  HttpModelOptions o;
  o.base_url = server.url() + "/v1";
  o.api_key = kKey;
  auto provider = std::make_shared<HttpModelProvider>(std::make_shared<http::HttpClient>(), openai_dialect(), o);
  auto handle = shared_runtime().start(agent_with(Model{provider, "gpt-4o"}), "hi");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server.requests().empty() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(provider->in_flight(), 1u);
  handle.cancel();
  EXPECT_EQ(handle.wait().error().code, ErrorCode::cancelled);
  while (provider->in_flight() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(provider->in_flight(), 0u);  // the transfer was aborted, not left to run to its timeout
  server.release();
}

TEST(OpenAIProvider, ARefusalFailsTheRunWithTheRefusalText) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-refusal.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server)), "something it refuses");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::model_error);
  EXPECT_NE(result.error().message.find("the model refused: "), std::string::npos) << result.error().message;
}

TEST(OpenAIProvider, AStructuredAnswerCutOffAtMaxTokensSaysSo) {
  LoopbackServer server;
  server.push(ok_json("openai/chat/nonstream-length.json"));
  auto result = shared_runtime().run(agent_with(openai_model(server), {}, R"({"type":"object"})"), "weather as JSON");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::output_schema_violation);
  EXPECT_NE(result.error().message.find("cut off at the model's max_tokens"), std::string::npos) << result.error().message;
}
