// The Anthropic Messages codec against non-streaming 200 bodies and error bodies recorded from the
// live API (shared/fixtures/providers/anthropic).
#include <gtest/gtest.h>

#include "fixtures.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "loomflow/providers/wire/anthropic_messages.hpp"

using namespace loomflow;
using namespace loomflow::providers::wire::anthropic;
using nlohmann::json;

using loomflow::testing::read_fixture;

namespace {


}  // namespace

// ---- non-streaming responses -------------------------------------------------------------------

TEST(AnthropicResponse, ARecordedTextBodyGivesItsTextStopAndUsage) {
  auto response = parse_messages_response(read_fixture("anthropic/messages/nonstream-text.body.json"), "anthropic");
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.role, Role::assistant);
  EXPECT_EQ(response->message.content,
            "The weather in San Francisco, CA is currently **68°F and Sunny**. Great day out there!");
  EXPECT_TRUE(response->message.tool_calls.empty());
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_EQ(response->usage.input_tokens, 770u);
  EXPECT_EQ(response->usage.output_tokens, 26u);
  EXPECT_EQ(response->usage.cached_input_tokens, 0u);
}

TEST(AnthropicResponse, ARecordedToolUseBodyGivesOneToolCallWithCompactArguments) {
  auto response = parse_messages_response(read_fixture("anthropic/messages/nonstream-tool-use.body.json"), "anthropic");
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "");
  ASSERT_EQ(response->message.tool_calls.size(), 1u);
  EXPECT_EQ(response->message.tool_calls[0],
            (ToolCall{"toolu_016xm9m1i3NcGW5xFMMZJTqY", "get_weather", R"({"location":"San Francisco, CA","units":"f"})"}));
  EXPECT_EQ(response->finish_reason, "tool_calls");
  EXPECT_EQ(response->usage.input_tokens, 656u);
  EXPECT_EQ(response->usage.output_tokens, 74u);
}

TEST(AnthropicResponse, ARecordedTextAndToolUseBodyKeepsBoth) {
  auto response =
      parse_messages_response(read_fixture("anthropic/messages/nonstream-text-and-tool-use.body.json"), "anthropic");
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content,
            "I'll get the weather for each of those cities. Let me start by checking San Francisco.");
  ASSERT_EQ(response->message.tool_calls.size(), 1u);
  EXPECT_EQ(response->message.tool_calls[0].id, "toolu_01LRanfq6DmHn1yDTB4d1SAh");
  EXPECT_EQ(response->finish_reason, "tool_calls");
}

TEST(AnthropicResponse, CacheWritesAndReadsCountAsInputAndReadsAsCached) {
  auto response = parse_messages_response(
      R"({"content":[],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":200,)"
      R"("cache_read_input_tokens":3000,"output_tokens":5}})",
      "anthropic");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->usage.input_tokens, 3210u);
  EXPECT_EQ(response->usage.cached_input_tokens, 3000u);
  EXPECT_EQ(response->usage.output_tokens, 5u);
}

TEST(AnthropicResponse, StopReasonsAreNormalized) {
  const std::pair<const char*, const char*> cases[] = {{"end_turn", "stop"},        {"stop_sequence", "stop"},
                                                       {"tool_use", "tool_calls"},  {"max_tokens", "length"},
                                                       {"refusal", "refusal"},      {"pause_turn", ""}};
  for (auto [wire, normalized] : cases) {
    auto response = parse_messages_response(json{{"content", json::array()}, {"stop_reason", wire}}.dump(), "a");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->finish_reason, normalized) << wire;
  }
}

TEST(AnthropicResponse, ARefusalMovesTheTextToRefusal) {
  auto response = parse_messages_response(
      R"({"content":[{"type":"text","text":"I can't help with that."}],"stop_reason":"refusal"})", "anthropic");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->refusal, "I can't help with that.");
  EXPECT_EQ(response->message.content, "");
  EXPECT_EQ(response->finish_reason, "refusal");
}

TEST(AnthropicResponse, TheStructuredOutputToolCallBecomesTheMessageText) {
  const std::string body =
      R"({"content":[{"type":"text","text":"Here it is."},{"type":"tool_use","id":"toolu_1",)"
      R"("name":"structured_output","input":{"city":"Paris","n":2}}],"stop_reason":"tool_use"})";
  auto response = parse_messages_response(body, "anthropic", true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->message.content, R"({"city":"Paris","n":2})");
  EXPECT_TRUE(response->message.tool_calls.empty());
  EXPECT_EQ(response->finish_reason, "stop");
}

TEST(AnthropicResponse, WithoutStructuredOutputAToolNamedStructuredOutputIsAnOrdinaryCall) {
  auto response = parse_messages_response(
      R"({"content":[{"type":"tool_use","id":"t","name":"structured_output","input":{}}],"stop_reason":"tool_use"})",
      "anthropic");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->message.tool_calls.size(), 1u);
  EXPECT_EQ(response->finish_reason, "tool_calls");
}

TEST(AnthropicResponse, ThinkingAndUnknownBlocksAreIgnored) {
  auto response = parse_messages_response(
      R"({"content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"text","text":"Hi"}],)"
      R"("stop_reason":"end_turn","future_field":1})",
      "anthropic");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->message.content, "Hi");
}

TEST(AnthropicResponse, ABodyThatIsNotJsonIsAModelErrorNamingTheProvider) {
  auto response = parse_messages_response("<html>502 Bad Gateway</html>", "anthropic-eu");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::model_error);
  EXPECT_NE(response.error().message.find("anthropic-eu"), std::string::npos);
}

TEST(AnthropicResponse, ABodyWithoutContentIsAModelError) {
  auto response = parse_messages_response(R"({"type":"message","content":"oops"})", "anthropic");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::model_error);
}

TEST(AnthropicResponse, AnErrorBodyIsAnErrorWithItsTypeAndMessage) {
  auto response = parse_messages_response(read_fixture("anthropic/errors/400-invalid-request.recorded.body.json"), "anthropic");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::model_error);
  EXPECT_NE(response.error().message.find("invalid_request_error"), std::string::npos);
  EXPECT_NE(response.error().message.find("unexpected `tool_use_id`"), std::string::npos);
}

// ---- error bodies ------------------------------------------------------------------------------

TEST(AnthropicErrorBody, A429RateLimitBodyGivesTypeMessageAndRequestId) {
  const json recorded = json::parse(read_fixture("anthropic/errors/429-rate-limit.json"));
  const ApiError error = parse_error_body(recorded["status"].get<int>(), recorded["body"].dump());
  EXPECT_EQ(error.status, 429);
  EXPECT_EQ(error.type, "rate_limit_error");
  EXPECT_EQ(error.message.rfind("This request would exceed your organization's rate limit", 0), 0u);
  EXPECT_EQ(error.request_id, "req_011CYK5mje9HkutJtmfPzzNC");
  EXPECT_EQ(parse_error_body(429, read_fixture("anthropic/errors/429-rate-limit.recorded.body.json")).request_id,
            "req_011CYK5mje9HkutJtmfPzzNC");
}

TEST(AnthropicErrorBody, A529OverloadedBodyGivesOverloadedError) {
  const json recorded = json::parse(read_fixture("anthropic/errors/529-overloaded.json"));
  const ApiError error = parse_error_body(recorded["status"].get<int>(), recorded["body"].dump());
  EXPECT_EQ(error.status, 529);
  EXPECT_EQ(error.type, "overloaded_error");
  EXPECT_EQ(error.message, "Overloaded");
  EXPECT_EQ(error.request_id, "req_000000000000000000000000");
}

TEST(AnthropicErrorBody, A400InvalidRequestBodyGivesItsMessage) {
  const ApiError error = parse_error_body(400, read_fixture("anthropic/errors/400-invalid-request.recorded.body.json"));
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_NE(error.message.find("Each `tool_result` block must have a corresponding `tool_use` block"), std::string::npos);
  EXPECT_EQ(error.request_id, "req_011CYHyk9NPsBYeGbC9LuDNK");
}

TEST(AnthropicErrorBody, ABodyThatIsNotJsonKeepsItsTextAsTheMessage) {
  const ApiError error = parse_error_body(502, "  <html>Bad Gateway</html>\n");
  EXPECT_EQ(error.status, 502);
  EXPECT_EQ(error.type, "");
  EXPECT_EQ(error.message, "<html>Bad Gateway</html>");
  EXPECT_EQ(error.request_id, "");
}

TEST(AnthropicErrorBody, AnEmptyBodyGivesOnlyTheStatus) {
  const ApiError error = parse_error_body(500, "");
  EXPECT_EQ(error.status, 500);
  EXPECT_EQ(error.message, "");
}
