// The Anthropic stream accumulator against recorded and documented SSE transcripts. The fixtures are
// split into events by a minimal local splitter, so these tests do not depend on the SSE parser.
#include <gtest/gtest.h>

#include "fixtures.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/providers/wire/anthropic_messages.hpp"

using namespace loomflow;
using namespace loomflow::providers::wire;
using namespace loomflow::providers::wire::anthropic;

using loomflow::testing::read_fixture;

namespace {


// Splits an LF-terminated SSE body into events: blank-line separated; `event:` and `data:` fields
// (one leading space dropped, data lines joined with '\n'); events without data are dropped.
std::vector<SseEvent> split_events(const std::string& body) {
  std::vector<SseEvent> events;
  SseEvent current;
  bool has_data = false;
  std::istringstream lines(body);
  std::string line;
  auto value = [](const std::string& l, std::size_t colon) {
    std::string v = l.substr(colon + 1);
    if (!v.empty() && v[0] == ' ') v.erase(0, 1);
    return v;
  };
  while (std::getline(lines, line)) {
    if (line.empty()) {
      if (has_data) events.push_back(current);
      current = SseEvent{};
      has_data = false;
    } else if (line.rfind("event:", 0) == 0) {
      current.event = value(line, 5);
    } else if (line.rfind("data:", 0) == 0) {
      current.data += (has_data ? "\n" : "") + value(line, 4);
      has_data = true;
    }
  }
  return events;  // an unterminated last event is not dispatched, as in the real parser
}

std::vector<SseEvent> stream_fixture(const std::string& name) {
  return split_events(read_fixture("anthropic/messages/" + name));
}

// Feeds every event; returns the first on_event error or finish().
Expected<ModelResponse> accumulate(const std::vector<SseEvent>& events, bool structured = false,
                                   std::string* streamed_text = nullptr) {
  MessagesStreamAccumulator accumulator("anthropic", structured);
  if (streamed_text) accumulator.on_text = [streamed_text](std::string_view t) { streamed_text->append(t); };
  for (const SseEvent& event : events) {
    auto fed = accumulator.on_event(event);
    if (!fed) return fed.error();
  }
  return accumulator.finish();
}

SseEvent event(std::string name, std::string data) { return SseEvent{std::move(name), std::move(data), {}}; }

std::vector<SseEvent> tool_stream(std::vector<std::string> pieces, bool stop_block = true) {
  std::vector<SseEvent> events{
      event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})"),
      event("content_block_start",
            R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"lookup","input":{}}})")};
  for (const std::string& piece : pieces)
    events.push_back(event("content_block_delta", nlohmann::json{{"type", "content_block_delta"}, {"index", 0},
                                                                 {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}}
                                                      .dump()));
  if (stop_block) events.push_back(event("content_block_stop", R"({"type":"content_block_stop","index":0})"));
  events.push_back(event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})"));
  events.push_back(event("message_stop", R"({"type":"message_stop"})"));
  return events;
}

}  // namespace

TEST(AnthropicStream, TheRecordedTextStreamGivesItsTextStopAndUsage) {
  std::string streamed;
  auto response = accumulate(stream_fixture("stream-text.sse"), false, &streamed);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "Hello there!");
  EXPECT_EQ(streamed, "Hello there!");
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_EQ(response->usage.input_tokens, 11u);
  EXPECT_EQ(response->usage.output_tokens, 6u);
}

TEST(AnthropicStream, TextDeltasReachOnTextOneByOneAsTheyArrive) {
  MessagesStreamAccumulator accumulator("anthropic");
  std::vector<std::string> deltas;
  accumulator.on_text = [&](std::string_view t) { deltas.emplace_back(t); };
  for (const SseEvent& e : stream_fixture("stream-text.sse")) ASSERT_TRUE(accumulator.on_event(e));
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hello", " there", "!"}));
  EXPECT_TRUE(accumulator.done());
}

TEST(AnthropicStream, TheDocumentedTextStreamGivesHello) {
  auto response = accumulate(stream_fixture("stream-text.doc-example.sse"));
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "Hello!");
  EXPECT_EQ(response->usage.input_tokens, 25u);
  EXPECT_EQ(response->usage.output_tokens, 15u);
}

TEST(AnthropicStream, TheRecordedToolUseStreamJoinsPartialJsonStartingWithAnEmptyPiece) {
  auto response = accumulate(stream_fixture("stream-tool-use.sse"));
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "I'll check the current weather in Paris for you.");
  ASSERT_EQ(response->message.tool_calls.size(), 1u);
  EXPECT_EQ(response->message.tool_calls[0],
            (ToolCall{"toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", R"({"location":"Paris"})"}));
  EXPECT_EQ(response->finish_reason, "tool_calls");
  EXPECT_EQ(response->usage.input_tokens, 377u);
  EXPECT_EQ(response->usage.output_tokens, 65u);
}

TEST(AnthropicStream, TheDocumentedToolUseStreamGivesTextAndOneCall) {
  auto response = accumulate(stream_fixture("stream-tool-use.doc-example.sse"));
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "Okay, let's check the weather for San Francisco, CA:");
  ASSERT_EQ(response->message.tool_calls.size(), 1u);
  EXPECT_EQ(response->message.tool_calls[0],
            (ToolCall{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
                      R"({"location":"San Francisco, CA","unit":"fahrenheit"})"}));
  EXPECT_EQ(response->finish_reason, "tool_calls");
  EXPECT_EQ(response->usage.input_tokens, 472u);
  EXPECT_EQ(response->usage.output_tokens, 89u);
}

TEST(AnthropicStream, AStreamedToolCallHasTheSameArgumentsAsTheNonStreamedOne) {
  // Non-streamed arguments are input.dump(); streamed ones are the pieces re-serialized the same way.
  auto response = accumulate(tool_stream({"", "{\"b\": [1, 2],", " \"a\": \"x\"}"}));
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.tool_calls.at(0).arguments, R"({"a":"x","b":[1,2]})");
}

TEST(AnthropicStream, AToolCallWithoutInputPiecesHasEmptyObjectArguments) {
  auto response = accumulate(tool_stream({}));
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.tool_calls.at(0).arguments, "{}");
}

TEST(AnthropicStream, AnErrorEventIsAnUnavailableErrorWithItsTypeAndMessage) {
  MessagesStreamAccumulator accumulator("anthropic");
  const auto events = stream_fixture("stream-error-event.doc-example.sse");
  ASSERT_EQ(events.size(), 1u);
  auto fed = accumulator.on_event(events[0]);
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().code, ErrorCode::unavailable);
  EXPECT_NE(fed.error().message.find("overloaded_error"), std::string::npos);
  EXPECT_NE(fed.error().message.find("Overloaded"), std::string::npos);
}

TEST(AnthropicStream, AnErrorMidStreamFailsTheStreamAndFinishReportsIt) {
  MessagesStreamAccumulator accumulator("anthropic");
  std::string streamed;
  accumulator.on_text = [&](std::string_view t) { streamed += t; };
  const auto events = stream_fixture("stream-text-then-overloaded-error.sse");
  ASSERT_EQ(events.size(), 5u);
  for (std::size_t i = 0; i + 1 < events.size(); ++i) ASSERT_TRUE(accumulator.on_event(events[i]));
  EXPECT_FALSE(accumulator.on_event(events.back()));
  EXPECT_EQ(streamed, "Hello");
  auto response = accumulator.finish();
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::unavailable);
  EXPECT_NE(response.error().message.find("overloaded_error"), std::string::npos);
}

TEST(AnthropicStream, ErrorTypesOtherThanOverloadRateLimitAndApiErrorAreModelErrors) {
  const std::pair<const char*, ErrorCode> cases[] = {{"overloaded_error", ErrorCode::unavailable},
                                                     {"rate_limit_error", ErrorCode::unavailable},
                                                     {"api_error", ErrorCode::unavailable},
                                                     {"invalid_request_error", ErrorCode::model_error},
                                                     {"permission_error", ErrorCode::model_error}};
  for (auto [type, code] : cases) {
    MessagesStreamAccumulator accumulator("anthropic");
    auto fed = accumulator.on_event(event(
        "error", nlohmann::json{{"type", "error"}, {"error", {{"type", type}, {"message", "boom"}}}}.dump()));
    ASSERT_FALSE(fed);
    EXPECT_EQ(fed.error().code, code) << type;
  }
}

TEST(AnthropicStream, AToolCallCutOffByMaxTokensIsAnErrorNamingTheToolAndMaxTokens) {
  std::string streamed;
  auto response = accumulate(stream_fixture("stream-tool-use-max-tokens-incomplete-json.sse"), false, &streamed);
  EXPECT_EQ(streamed.rfind("I'll create a comprehensive tax guide", 0), 0u);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::model_error);
  EXPECT_NE(response.error().message.find("make_file"), std::string::npos);
  EXPECT_NE(response.error().message.find("max_tokens"), std::string::npos);
}

TEST(AnthropicStream, AStreamWithoutMessageStopIsATruncatedStreamError) {
  auto events = stream_fixture("stream-text.sse");
  events.pop_back();  // message_stop
  MessagesStreamAccumulator accumulator("anthropic");
  for (const SseEvent& e : events) ASSERT_TRUE(accumulator.on_event(e));
  EXPECT_FALSE(accumulator.done());
  auto response = accumulator.finish();
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().message.find("truncated stream"), std::string::npos);
}

TEST(AnthropicStream, AnEmptyStreamIsATruncatedStreamError) {
  MessagesStreamAccumulator accumulator("anthropic");
  auto response = accumulator.finish();
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().message.find("truncated stream"), std::string::npos);
}

TEST(AnthropicStream, ToolInputThatDoesNotParseAtBlockStopIsAnErrorNamingTheBlockAndTool) {
  auto response = accumulate(tool_stream({"{\"a\": ", "}"}));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::model_error);
  EXPECT_NE(response.error().message.find("lookup"), std::string::npos);
  EXPECT_NE(response.error().message.find("content block 0"), std::string::npos);
}

TEST(AnthropicStream, ADataPayloadThatIsNotJsonIsAModelErrorNamingTheEvent) {
  MessagesStreamAccumulator accumulator("anthropic");
  auto fed = accumulator.on_event(event("content_block_delta", "{\"type\": \"content_bl"));
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().code, ErrorCode::model_error);
  EXPECT_NE(fed.error().message.find("content_block_delta"), std::string::npos);
}

TEST(AnthropicStream, PingsUnknownEventsAndDataOnlyEventsAreIgnored) {
  auto events = stream_fixture("stream-text.sse");
  events.insert(events.begin() + 1, event("ping", "not even json"));
  events.insert(events.begin() + 2, event("future_event", R"({"type":"future_event"})"));
  events.insert(events.begin() + 3, event("", R"({"type":"message_stop"})"));
  auto response = accumulate(events);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, "Hello there!");
}

TEST(AnthropicStream, CacheUsageFromMessageStartAndMessageDeltaIsMapped) {
  const std::vector<SseEvent> events{
      event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":4,)"
                             R"("cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}})"),
      event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}})"),
      event("content_block_stop", R"({"type":"content_block_stop","index":0})"),
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},)"
                             R"("usage":{"output_tokens":30,"cache_read_input_tokens":2500}})"),
      event("message_stop", R"({"type":"message_stop"})")};
  auto response = accumulate(events);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->usage.input_tokens, 2604u);
  EXPECT_EQ(response->usage.cached_input_tokens, 2500u);
  EXPECT_EQ(response->usage.output_tokens, 30u);
  EXPECT_EQ(response->finish_reason, "length");
}

TEST(AnthropicStream, AStreamedStructuredOutputCallBecomesTheMessageText) {
  auto events = tool_stream({"{\"city\":", " \"Paris\"}"});
  events[1] = event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":)"
                                           R"({"type":"tool_use","id":"toolu_1","name":"structured_output","input":{}}})");
  auto response = accumulate(events, true);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->message.content, R"({"city":"Paris"})");
  EXPECT_TRUE(response->message.tool_calls.empty());
  EXPECT_EQ(response->finish_reason, "stop");
}

TEST(AnthropicStream, ADeltaForABlockNeverStartedIsAModelError) {
  MessagesStreamAccumulator accumulator("anthropic");
  auto fed = accumulator.on_event(
      event("content_block_delta", R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})"));
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().code, ErrorCode::model_error);
}
