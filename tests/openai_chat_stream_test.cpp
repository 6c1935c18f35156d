// The OpenAI Chat Completions codec, streaming side: every recorded stream assembles into the
// response its non-streaming twin describes; bad chunks, error chunks and cut streams are errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "loomflow/providers/wire/openai_chat.hpp"
#include "loomflow/providers/wire/sse.hpp"

using namespace loomflow;
using namespace loomflow::providers::wire;
using namespace loomflow::providers::wire::openai;
using json = nlohmann::json;

namespace {

const std::string kChat = LOOMFLOW_SHARED_DIR "/fixtures/providers/openai/chat";
const std::string kLabel = "openai model 'gpt-4o-2024-08-06'";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<SseEvent> events_of(std::string_view bytes) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(bytes, events);
  EXPECT_TRUE(parser.at_boundary());
  return events;
}

std::vector<SseEvent> fixture_events(const std::string& name) { return events_of(read_file(kChat + "/" + name)); }

Expected<ModelResponse> accumulate(const std::vector<SseEvent>& events, bool allow_missing_done = false) {
  ChatStreamAccumulator accumulator(kLabel);
  for (const SseEvent& event : events) {
    auto fed = accumulator.on_event(event);
    if (!fed) return fed.error();
  }
  return accumulator.finish(allow_missing_done);
}

ModelResponse assembled(const std::string& name) {
  auto response = accumulate(fixture_events(name));
  EXPECT_TRUE(response.has_value()) << name << ": " << (response ? "" : response.error().describe());
  return response ? *response : ModelResponse{};
}

ModelResponse parsed(const std::string& name) {
  auto response = parse_chat_response(read_file(kChat + "/" + name), kLabel);
  EXPECT_TRUE(response.has_value()) << name;
  return response ? *response : ModelResponse{};
}

SseEvent data_event(const json& chunk) { return SseEvent{"", chunk.dump(), ""}; }

// A chunk whose only choice carries `delta` and `finish_reason`.
SseEvent choice_event(json delta, json finish_reason = nullptr) {
  json choice = {{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish_reason)}};
  return data_event({{"choices", json::array({std::move(choice)})}});
}

// The body of a recorded OpenAI error response.
json error_body(const std::string& name) {
  return json::parse(read_file(LOOMFLOW_SHARED_DIR "/fixtures/providers/openai/errors/" + name))["body"];
}

// The recorded streams and their non-streaming twins were separate live calls: the wording, ids and
// numbers may differ, the meaning may not.
void expect_same_meaning(const ModelResponse& streamed, const ModelResponse& whole) {
  EXPECT_EQ(streamed.finish_reason, whole.finish_reason);
  EXPECT_EQ(streamed.message.role, whole.message.role);
  EXPECT_EQ(streamed.message.content.empty(), whole.message.content.empty());
  EXPECT_EQ(streamed.refusal.empty(), whole.refusal.empty());
  ASSERT_EQ(streamed.message.tool_calls.size(), whole.message.tool_calls.size());
  for (std::size_t i = 0; i < whole.message.tool_calls.size(); ++i) {
    EXPECT_EQ(streamed.message.tool_calls[i].name, whole.message.tool_calls[i].name);
    EXPECT_EQ(json::parse(streamed.message.tool_calls[i].arguments), json::parse(whole.message.tool_calls[i].arguments));
  }
}

std::set<std::string> keys_of(const std::string& json_text) {
  const json object = json::parse(json_text);
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

}  // namespace

TEST(OpenAiChatStream, EveryRecordedStreamAssembles) {
  int streams = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kChat)) {
    if (entry.path().extension() != ".sse") continue;
    ++streams;
    auto response = accumulate(events_of(read_file(entry.path().string())));
    EXPECT_TRUE(response.has_value()) << entry.path() << ": " << (response ? "" : response.error().describe());
  }
  EXPECT_EQ(streams, 6);
}

TEST(OpenAiChatStream, ATextStreamJoinsItsDeltasAndTakesTheUsageChunk) {
  const ModelResponse r = assembled("stream-text.sse");
  EXPECT_EQ(r.message.role, Role::assistant);
  EXPECT_EQ(r.message.content,
            "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I "
            "recommend checking a reliable weather website or a weather app.");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.usage.input_tokens, 14u);
  EXPECT_EQ(r.usage.output_tokens, 30u);
  expect_same_meaning(r, parsed("nonstream-text.json"));
}

TEST(OpenAiChatStream, TextDeltasReachOnTextAsTheyArriveAndNeverEmpty) {
  ChatStreamAccumulator accumulator(kLabel);
  std::vector<std::string> pieces;
  accumulator.on_text = [&](std::string_view piece) { pieces.emplace_back(piece); };
  for (const SseEvent& event : fixture_events("stream-text.sse")) ASSERT_TRUE(accumulator.on_event(event).has_value());
  auto r = accumulator.finish();
  ASSERT_TRUE(r.has_value());
  ASSERT_GT(pieces.size(), 10u);
  std::string joined;
  for (const auto& piece : pieces) {
    EXPECT_FALSE(piece.empty());
    joined += piece;
  }
  EXPECT_EQ(joined, r->message.content);
}

TEST(OpenAiChatStream, AToolCallStreamTakesIdAndNameFromTheFirstFragmentAndJoinsTheArguments) {
  const ModelResponse r = assembled("stream-tool-call.sse");
  ASSERT_EQ(r.message.tool_calls.size(), 1u);
  EXPECT_EQ(r.message.tool_calls[0], (ToolCall{"call_c91SqDXlYFuETYv8mUHzz6pp", "GetWeatherArgs",
                                               R"({"city":"Edinburgh","country":"UK","units":"c"})"}));
  EXPECT_EQ(r.message.content, "");
  EXPECT_EQ(r.finish_reason, "tool_calls");
  EXPECT_EQ(r.usage.input_tokens, 76u);
  EXPECT_EQ(r.usage.output_tokens, 24u);
}

TEST(OpenAiChatStream, ParallelToolCallsSplitMidTokenAssembleLikeTheNonStreamedAnswer) {
  const ModelResponse r = assembled("stream-parallel-tool-calls.sse");
  const ModelResponse whole = parsed("nonstream-parallel-tool-calls.json");
  ASSERT_EQ(r.message.tool_calls.size(), 2u);
  EXPECT_EQ(r.message.tool_calls[0].id, "call_JMW1whyEaYG438VE1OIflxA2");
  EXPECT_EQ(r.message.tool_calls[1].id, "call_DNYTawLBoN8fj3KN6qU9N1Ou");
  for (std::size_t i = 0; i < 2; ++i) {  // byte for byte, ids aside
    EXPECT_EQ(r.message.tool_calls[i].name, whole.message.tool_calls[i].name);
    EXPECT_EQ(r.message.tool_calls[i].arguments, whole.message.tool_calls[i].arguments);
  }
  EXPECT_EQ(r.usage, whole.usage);
  expect_same_meaning(r, whole);
}

TEST(OpenAiChatStream, BytesSplitAtEveryPositionAndFedAsTheyArriveAssembleTheSameResponse) {
  const std::string bytes = read_file(kChat + "/stream-length.sse");
  const ModelResponse expected = assembled("stream-length.sse");
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    SseParser parser;
    ChatStreamAccumulator accumulator(kLabel);
    std::string text;
    accumulator.on_text = [&](std::string_view piece) { text += piece; };
    for (std::string_view chunk : {std::string_view(bytes).substr(0, cut), std::string_view(bytes).substr(cut)}) {
      std::vector<SseEvent> events;
      parser.feed(chunk, events);
      for (const SseEvent& event : events) ASSERT_TRUE(accumulator.on_event(event).has_value()) << "cut at " << cut;
    }
    auto r = accumulator.finish();
    ASSERT_TRUE(r.has_value()) << "cut at " << cut;
    ASSERT_EQ(r->message, expected.message) << "cut at " << cut;
    ASSERT_EQ(r->usage, expected.usage) << "cut at " << cut;
    ASSERT_EQ(text, expected.message.content) << "cut at " << cut;
  }
}

TEST(OpenAiChatStream, AJsonSchemaStreamAssemblesTheJsonTextOfTheAnswer) {
  const ModelResponse r = assembled("stream-json-schema.sse");
  EXPECT_EQ(r.message.content, R"({"city":"San Francisco","temperature":61,"units":"f"})");
  const ModelResponse whole = parsed("nonstream-json-schema.json");
  EXPECT_EQ(keys_of(r.message.content), keys_of(whole.message.content));
  expect_same_meaning(r, whole);
}

TEST(OpenAiChatStream, ALengthStreamAssemblesExactlyTheNonStreamedAnswer) {
  const ModelResponse r = assembled("stream-length.sse");
  const ModelResponse whole = parsed("nonstream-length.json");
  EXPECT_EQ(r.message, whole.message);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.usage, whole.usage);
}

TEST(OpenAiChatStream, RefusalDeltasJoinIntoTheRefusal) {
  const ModelResponse r = assembled("stream-refusal.sse");
  EXPECT_EQ(r.refusal, "I'm sorry, I can't assist with that request.");
  EXPECT_EQ(r.message.content, "");
  EXPECT_EQ(r.finish_reason, "refusal");
  expect_same_meaning(r, parsed("nonstream-refusal.json"));
}

TEST(OpenAiChatStream, DoneIsSetByTheDoneLineOnly) {
  ChatStreamAccumulator accumulator(kLabel);
  const auto events = fixture_events("stream-length.sse");
  for (std::size_t i = 0; i + 1 < events.size(); ++i) ASSERT_TRUE(accumulator.on_event(events[i]).has_value());
  EXPECT_FALSE(accumulator.done());
  ASSERT_TRUE(accumulator.on_event(events.back()).has_value());
  EXPECT_TRUE(accumulator.done());
}

TEST(OpenAiChatStream, CachedPromptTokensOfTheUsageChunkBecomeCachedInputTokens) {
  auto events = fixture_events("stream-length.sse");
  json usage_chunk = json::parse(events[events.size() - 2].data);
  ASSERT_TRUE(usage_chunk["choices"].empty());
  usage_chunk["usage"]["prompt_tokens_details"] = {{"cached_tokens", 64}, {"audio_tokens", 0}};
  events[events.size() - 2] = data_event(usage_chunk);
  auto r = accumulate(events);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->usage.input_tokens, 79u);
  EXPECT_EQ(r->usage.output_tokens, 1u);
  EXPECT_EQ(r->usage.cached_input_tokens, 64u);
}

TEST(OpenAiChatStream, NullUsageAndObfuscationOnOrdinaryChunksAreAccepted) {
  auto events = fixture_events("stream-tool-call.sse");
  for (std::size_t i = 0; i + 2 < events.size(); ++i) {  // every chunk but the usage chunk and [DONE]
    json chunk = json::parse(events[i].data);
    chunk["usage"] = nullptr;
    chunk["obfuscation"] = "Zx9a";
    events[i] = data_event(chunk);
  }
  auto r = accumulate(events);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message, assembled("stream-tool-call.sse").message);
  EXPECT_EQ(r->usage.input_tokens, 76u);
}

TEST(OpenAiChatStream, AChunkThatIsNotJsonIsAModelErrorThatSticks) {
  auto events = fixture_events("stream-text.sse");
  ChatStreamAccumulator accumulator(kLabel);
  ASSERT_TRUE(accumulator.on_event(events[0]).has_value());
  auto bad = accumulator.on_event(SseEvent{"", R"({"id":"chatcmpl-1","choices":[{"delta":)", ""});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::model_error);
  EXPECT_NE(bad.error().message.find(kLabel), std::string::npos);
  EXPECT_NE(bad.error().message.find("not valid JSON"), std::string::npos);
  EXPECT_FALSE(accumulator.on_event(events[1]).has_value());
  auto finished = accumulator.finish();
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().message, bad.error().message);
}

TEST(OpenAiChatStream, AServerErrorChunkMidStreamIsRetryable) {
  auto events = fixture_events("stream-text.sse");
  events.insert(events.begin() + 3, data_event(error_body("500-server-error.json")));
  auto r = accumulate(events);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("server_error"), std::string::npos);
  EXPECT_NE(r.error().message.find("The server had an error"), std::string::npos);
}

TEST(OpenAiChatStream, ARateLimitOrOverloadErrorChunkIsRetryable) {
  ChatStreamAccumulator first(kLabel);
  EXPECT_EQ(first.on_event(data_event(error_body("429-rate-limit-tokens.json"))).error().code, ErrorCode::unavailable);
  ChatStreamAccumulator second(kLabel);
  const json overloaded = {{"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}};
  EXPECT_EQ(second.on_event(data_event(overloaded)).error().code, ErrorCode::unavailable);
}

TEST(OpenAiChatStream, AnInvalidRequestErrorChunkIsAModelError) {
  const json error = {
      {"error", {{"message", "bad"}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", nullptr}}}};
  ChatStreamAccumulator accumulator(kLabel);
  auto r = accumulator.on_event(data_event(error));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
  EXPECT_NE(r.error().message.find("invalid_request_error"), std::string::npos);
}

TEST(OpenAiChatStream, AStreamCutBeforeItsLastChunksIsATruncatedStream) {
  auto events = fixture_events("stream-text.sse");
  events.resize(events.size() - 3);  // no finish chunk, no usage chunk, no [DONE]
  for (bool allow_missing_done : {false, true}) {
    auto r = accumulate(events, allow_missing_done);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::unavailable);
    EXPECT_NE(r.error().message.find("truncated stream"), std::string::npos);
    EXPECT_NE(r.error().message.find(kLabel), std::string::npos);
  }
}

TEST(OpenAiChatStream, AMissingDoneIsAcceptedOnlyWhenAllowedAndAFinishReasonWasSeen) {
  auto events = fixture_events("stream-text.sse");
  events.pop_back();
  EXPECT_FALSE(accumulate(events).has_value());
  auto r = accumulate(events, /*allow_missing_done=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message, assembled("stream-text.sse").message);
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST(OpenAiChatStream, AToolCallFragmentWhoseIndexSkipsAheadIsAModelError) {
  auto events = fixture_events("stream-parallel-tool-calls.sse");
  json first = json::parse(events[1].data);
  first["choices"][0]["delta"]["tool_calls"][0]["index"] = 1;  // index 0 never came
  ChatStreamAccumulator accumulator(kLabel);
  ASSERT_TRUE(accumulator.on_event(events[0]).has_value());
  auto r = accumulator.on_event(data_event(first));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
  EXPECT_NE(r.error().message.find("index 1"), std::string::npos);
}

TEST(OpenAiChatStream, FragmentsWithoutIndexContinueTheLastCallUnlessTheyBringANewId) {
  const auto fragment = [](json call) { return choice_event({{"tool_calls", json::array({std::move(call)})}}); };
  ChatStreamAccumulator accumulator(kLabel);
  ASSERT_TRUE(accumulator.on_event(fragment({{"id", "a"}, {"function", {{"name", "f"}, {"arguments", "{\"x\""}}}})).has_value());
  ASSERT_TRUE(accumulator.on_event(fragment({{"function", {{"arguments", ":1}"}}}})).has_value());
  ASSERT_TRUE(accumulator.on_event(fragment({{"id", "b"}, {"function", {{"name", "g"}, {"arguments", "{}"}}}})).has_value());
  ASSERT_TRUE(accumulator.on_event(choice_event(json::object(), "tool_calls")).has_value());
  ASSERT_TRUE(accumulator.on_event(SseEvent{"", "[DONE]", ""}).has_value());
  auto r = accumulator.finish();
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.tool_calls, (std::vector<ToolCall>{{"a", "f", R"({"x":1})"}, {"b", "g", "{}"}}));
}

TEST(OpenAiChatStream, AStreamedToolCallWithoutANameIsAModelError) {
  ChatStreamAccumulator accumulator(kLabel);
  const json nameless = {{"index", 0}, {"function", {{"arguments", "{}"}}}};
  ASSERT_TRUE(accumulator.on_event(choice_event({{"tool_calls", json::array({nameless})}})).has_value());
  ASSERT_TRUE(accumulator.on_event(SseEvent{"", "[DONE]", ""}).has_value());
  auto r = accumulator.finish();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
}

TEST(OpenAiChatStream, EventsAfterDoneAreIgnored) {
  auto events = fixture_events("stream-length.sse");
  events.push_back(SseEvent{"", "not json at all", ""});
  auto r = accumulate(events);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message.content, "{\"");
}

TEST(OpenAiChatStream, AnEventNamedErrorIsAnErrorEvenWithoutAnErrorKey) {
  ChatStreamAccumulator accumulator(kLabel);
  auto r = accumulator.on_event(SseEvent{"error", R"({"message": "upstream overloaded", "type": "overloaded"})", ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("upstream overloaded"), std::string::npos);
}
