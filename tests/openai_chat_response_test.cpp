// The OpenAI Chat Completions codec, non-streaming side: every recorded 200 body reads back into a
// ModelResponse, and every recorded error body into an ApiError.
#include <gtest/gtest.h>

#include "fixtures.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "loomflow/providers/wire/openai_chat.hpp"

using namespace loomflow;
using namespace loomflow::providers::wire::openai;
using json = nlohmann::json;

using loomflow::testing::read_fixture;

namespace {

const std::string kLabel = "openai model 'gpt-4o-2024-08-06'";


Expected<ModelResponse> parse_fixture(const std::string& name) {
  return parse_chat_response(read_fixture("openai/chat/" + name), kLabel);
}

ApiError parse_error_fixture(const std::string& name) {
  const json fixture = json::parse(read_fixture("openai/errors/" + name));
  return parse_error_body(fixture["status"].get<int>(), fixture["body"].dump());
}

}  // namespace

// ---- Non-streaming responses --------------------------------------------------------------------

TEST(OpenAiChatResponse, ATextAnswerReadsItsContentFinishReasonAndUsage) {
  auto r = parse_fixture("nonstream-text.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.role, Role::assistant);
  EXPECT_EQ(r->message.content.rfind("I'm unable to provide real-time weather updates.", 0), 0u);
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->refusal, "");
  EXPECT_EQ(r->usage.input_tokens, 14u);
  EXPECT_EQ(r->usage.output_tokens, 37u);
  EXPECT_EQ(r->usage.cached_input_tokens, 0u);
}

TEST(OpenAiChatResponse, ParallelToolCallsAreReadInOrder) {
  auto r = parse_fixture("nonstream-parallel-tool-calls.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.content, "");
  ASSERT_EQ(r->message.tool_calls.size(), 2u);
  EXPECT_EQ(r->message.tool_calls[0], (ToolCall{"call_fdNz3vOBKYgOIpMdWotB9MjY", "GetWeatherArgs",
                                                R"({"city": "Edinburgh", "country": "GB", "units": "c"})"}));
  EXPECT_EQ(r->message.tool_calls[1], (ToolCall{"call_h1DWI1POMJLb0KwIyQHWXD4p", "get_stock_price",
                                                R"({"ticker": "AAPL", "exchange": "NASDAQ"})"}));
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input_tokens, 149u);
  EXPECT_EQ(r->usage.output_tokens, 60u);
}

TEST(OpenAiChatResponse, AJsonSchemaAnswerIsTheJsonTextInTheContent) {
  auto r = parse_fixture("nonstream-json-schema.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.content, R"({"city":"San Francisco","temperature":65,"units":"f"})");
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST(OpenAiChatResponse, AnAnswerCutByMaxTokensFinishesWithLength) {
  auto r = parse_fixture("nonstream-length.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.content, "{\"");
  EXPECT_EQ(r->finish_reason, "length");
  EXPECT_EQ(r->usage.output_tokens, 1u);
}

TEST(OpenAiChatResponse, ARefusalIsKeptApartAndFinishesWithRefusal) {
  auto r = parse_fixture("nonstream-refusal.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->refusal, "I'm very sorry, but I can't assist with that.");
  EXPECT_EQ(r->message.content, "");
  EXPECT_EQ(r->finish_reason, "refusal");
}

TEST(OpenAiChatResponse, TheDocumentedDefaultExampleReadsWithItsNewerKeys) {
  auto r = parse_fixture("doc-example-default.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->message.content, "Hello! How can I assist you today?");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.input_tokens, 19u);
  EXPECT_EQ(r->usage.output_tokens, 10u);
}

TEST(OpenAiChatResponse, TheDocumentedFunctionsExampleKeepsNewlinesInItsArguments) {
  auto r = parse_fixture("doc-example-functions.json");
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  ASSERT_EQ(r->message.tool_calls.size(), 1u);
  EXPECT_EQ(r->message.tool_calls[0], (ToolCall{"call_abc123", "get_current_weather", "{\n\"location\": \"Boston, MA\"\n}"}));
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.input_tokens, 82u);
  EXPECT_EQ(r->usage.output_tokens, 17u);
}

TEST(OpenAiChatResponse, CachedPromptTokensBecomeCachedInputTokens) {
  json body = json::parse(read_fixture("openai/chat/doc-example-default.json"));
  body["usage"]["prompt_tokens"] = 2006;
  body["usage"]["prompt_tokens_details"]["cached_tokens"] = 1920;
  auto r = parse_chat_response(body.dump(), kLabel);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->usage.input_tokens, 2006u);
  EXPECT_EQ(r->usage.cached_input_tokens, 1920u);
  EXPECT_EQ(r->usage.output_tokens, 10u);
}

TEST(OpenAiChatResponse, AForcedToolCallAnsweredWithStopFinishesWithToolCalls) {
  json body = json::parse(read_fixture("openai/chat/doc-example-functions.json"));
  body["choices"][0]["finish_reason"] = "stop";
  auto r = parse_chat_response(body.dump(), kLabel);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->finish_reason, "tool_calls");
}

TEST(OpenAiChatResponse, ContentFilterIsKeptAndUnknownFinishReasonsBecomeEmpty) {
  json body = json::parse(read_fixture("openai/chat/doc-example-default.json"));
  body["choices"][0]["finish_reason"] = "content_filter";
  EXPECT_EQ(parse_chat_response(body.dump(), kLabel)->finish_reason, "content_filter");
  body["choices"][0]["finish_reason"] = "eos_token";
  EXPECT_EQ(parse_chat_response(body.dump(), kLabel)->finish_reason, "");
  body["choices"][0]["finish_reason"] = nullptr;
  EXPECT_EQ(parse_chat_response(body.dump(), kLabel)->finish_reason, "");
}

TEST(OpenAiChatResponse, MalformedJsonIsAModelErrorNamingTheProvider) {
  auto r = parse_chat_response(R"({"id": "chatcmpl-1", "choices": [)", kLabel);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
  EXPECT_NE(r.error().message.find(kLabel), std::string::npos);
  EXPECT_NE(r.error().message.find("not valid JSON"), std::string::npos);
}

TEST(OpenAiChatResponse, ABodyWithoutChoicesIsAModelErrorSayingWhatIsMissing) {
  for (const char* body : {R"({"id":"x"})", R"({"choices":[]})", R"({"choices":[{"index":0}]})", R"([1])"}) {
    auto r = parse_chat_response(body, kLabel);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::model_error) << body;
    EXPECT_NE(r.error().message.find(kLabel), std::string::npos) << body;
  }
  EXPECT_NE(parse_chat_response(R"({"choices":[]})", kLabel).error().message.find("choices[0].message"), std::string::npos);
}

TEST(OpenAiChatResponse, AToolCallWithoutAFunctionNameIsAModelError) {
  const std::string call = R"({"id":"c","type":"function","function":{"arguments":"{}"}})";
  auto r = parse_chat_response(R"({"choices":[{"message":{"content":null,"tool_calls":[)" + call + "]}}]}", kLabel);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
  EXPECT_NE(r.error().message.find("tool_calls[0]"), std::string::npos);
}

TEST(OpenAiChatResponse, AnErrorObjectInA200BodyIsAnErrorRetryableWhenTheServerFailed) {
  const json server = json::parse(read_fixture("openai/errors/500-server-error.json"))["body"];
  auto r = parse_chat_response(server.dump(), kLabel);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("server_error"), std::string::npos);
  const json invalid = json::parse(read_fixture("openai/errors/401-invalid-api-key.json"))["body"];
  EXPECT_EQ(parse_chat_response(invalid.dump(), kLabel).error().code, ErrorCode::model_error);
}

// ---- Error bodies -------------------------------------------------------------------------------

TEST(OpenAiErrorBody, AnInvalidApiKeyIsAnInvalidRequestErrorWithItsCode) {
  const ApiError e = parse_error_fixture("401-invalid-api-key.json");
  EXPECT_EQ(e.status, 401);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.code, "invalid_api_key");
  EXPECT_EQ(e.param, "");
  EXPECT_EQ(e.message.rfind("Incorrect API key provided", 0), 0u);
}

TEST(OpenAiErrorBody, ARateLimitKeepsItsTypeCodeAndMessage) {
  const ApiError e = parse_error_fixture("429-rate-limit-tokens.json");
  EXPECT_EQ(e.status, 429);
  EXPECT_EQ(e.type, "tokens");
  EXPECT_EQ(e.code, "rate_limit_exceeded");
  EXPECT_NE(e.message.find("Please try again in 174ms"), std::string::npos);
}

TEST(OpenAiErrorBody, AServerErrorHasNullCodeAndParamReadAsEmpty) {
  const ApiError e = parse_error_fixture("500-server-error.json");
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(e.type, "server_error");
  EXPECT_EQ(e.code, "");
  EXPECT_EQ(e.param, "");
  EXPECT_EQ(e.message.rfind("The server had an error processing your request.", 0), 0u);
}

TEST(OpenAiErrorBody, AContextLengthErrorNamesItsParam) {
  const ApiError e = parse_error_fixture("400-context-length-exceeded.json");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.code, "context_length_exceeded");
  EXPECT_EQ(e.param, "messages");
  EXPECT_NE(e.message.find("maximum context length is 4097 tokens"), std::string::npos);
}

TEST(OpenAiErrorBody, TheExactCompactContextLengthBytesReadTheSame) {
  const ApiError e = parse_error_body(400, read_fixture("openai/errors/400-context-length-exceeded.body.txt"));
  const ApiError expected = parse_error_fixture("400-context-length-exceeded.json");
  EXPECT_EQ(e.type, expected.type);
  EXPECT_EQ(e.code, expected.code);
  EXPECT_EQ(e.param, expected.param);
  EXPECT_EQ(e.message, expected.message);
}

TEST(OpenAiErrorBody, ABodyThatIsNotJsonBecomesTheMessageCutTo500Bytes) {
  const ApiError gateway = parse_error_body(502, "<html>Bad Gateway</html>");
  EXPECT_EQ(gateway.status, 502);
  EXPECT_EQ(gateway.type, "");
  EXPECT_EQ(gateway.message, "<html>Bad Gateway</html>");
  EXPECT_EQ(parse_error_body(503, std::string(2000, 'x')).message.size(), 500u);
}

TEST(OpenAiErrorBody, ACutNeverSplitsAUtf8Character) {
  const std::string body = std::string(499, 'x') + "\xC3\xA9" + std::string(10, 'y');
  EXPECT_EQ(parse_error_body(500, body).message, std::string(499, 'x'));
}

TEST(OpenAiErrorBody, AnErrorStringOrATopLevelMessageIsTheMessage) {
  EXPECT_EQ(parse_error_body(400, R"({"error": "model not found"})").message, "model not found");
  EXPECT_EQ(parse_error_body(404, R"({"detail": "Not Found"})").message, "Not Found");
  const ApiError numeric = parse_error_body(429, R"({"error": {"message": "slow down", "type": null, "code": 429}})");
  EXPECT_EQ(numeric.code, "429");
  EXPECT_EQ(numeric.message, "slow down");
}

TEST(OpenAiChatResponse, JsonNestedDeeperThanAnyRealAnswerIsAModelErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto r = parse_chat_response(
      R"({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":)" + deep + "}}]}}]}", kLabel);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
  EXPECT_NE(r.error().message.find("too deeply"), std::string::npos);
  EXPECT_EQ(parse_error_body(500, deep).message.size(), 500u);
}
