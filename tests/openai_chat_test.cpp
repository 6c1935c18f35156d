// The OpenAI Chat Completions codec, request side: request bodies have the shapes the official SDK
// sends (shared/fixtures/providers/requests/openai-*.json) and bad requests are caught before they
// are sent.
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



// The body the SDK sent in a recorded request scenario.
json sdk_body(const std::string& scenario) {
  return json::parse(read_fixture("requests/" + scenario + ".json"))["requests"][0]["body"];
}

json build(const ModelRequest& request, const ChatOptions& options = {}) {
  auto body = build_chat_request(request, options);
  EXPECT_TRUE(body.has_value()) << (body ? "" : body.error().describe());
  return body ? json::parse(*body) : json();
}

ModelRequest request_with(Conversation messages, std::vector<ToolSpec> tools = {}) {
  ModelRequest request;
  request.model = "gpt-4o-2024-08-06";
  request.messages = std::move(messages);
  request.tools = std::move(tools);
  return request;
}

// The tool of the recorded tools scenarios, taken from the recording itself.
ToolSpec weather_tool() {
  const json function = sdk_body("openai-chat-nonstream-tools")["tools"][0]["function"];
  return ToolSpec{function["name"].get<std::string>(), function["description"].get<std::string>(),
                  function["parameters"].dump()};
}

// The conversation of an agent turn that called tools and got their results.
Conversation tool_round_trip() {
  return Conversation{
      Message::system("You are terse."),
      Message::user("Weather in Edinburgh and price of AAPL?"),
      Message::assistant("", {ToolCall{"call_1", "get_weather", R"({"location":"Edinburgh"})"},
                              ToolCall{"call_2", "get_weather", R"({"location":"Paris"})"}}),
      Message::tool_result("call_1", "get_weather", "12 C"),
      Message::tool_result("call_2", "get_weather", "no such city", /*error=*/true),
  };
}

}  // namespace

// ---- Requests ---------------------------------------------------------------------------------

TEST(OpenAiChatRequest, ASystemAndUserConversationIsTheBodyTheSdkSends) {
  const json body = build(request_with({Message::system("You are terse."), Message::user("What's the weather like in SF?")}));
  EXPECT_EQ(body, sdk_body("openai-chat-nonstream"));
}

TEST(OpenAiChatRequest, StreamingAddsStreamAndIncludeUsageAsTheSdkDoes) {
  const json body = build(request_with({Message::user("What's the weather like in SF?")}), ChatOptions{.stream = true});
  EXPECT_EQ(body, sdk_body("openai-chat-stream"));
}

TEST(OpenAiChatRequest, ToolsWithAutoChoiceAreTheBodyTheSdkSendsLessTheDefaultParallelFlag) {
  json expected = sdk_body("openai-chat-nonstream-tools");
  ASSERT_EQ(expected["parallel_tool_calls"], true);
  expected.erase("parallel_tool_calls");  // the API's default: left out
  const json body = build(request_with({Message::user("Weather in Edinburgh and price of AAPL?")}, {weather_tool()}),
                          ChatOptions{.tool_choice = "auto"});
  EXPECT_EQ(body, expected);
}

TEST(OpenAiChatRequest, StreamedToolsAreTheBodyTheSdkSends) {
  const json body = build(request_with({Message::user("Weather in Edinburgh and price of AAPL?")}, {weather_tool()}),
                          ChatOptions{.stream = true});
  EXPECT_EQ(body, sdk_body("openai-chat-stream-tools-accumulated"));
}

TEST(OpenAiChatRequest, AnOutputSchemaIsAStrictJsonSchemaResponseFormatNamedOutput) {
  json expected = sdk_body("openai-chat-json-schema");
  ModelRequest request = request_with({Message::user("What's the weather like in SF?")});
  request.output_schema = expected["response_format"]["json_schema"]["schema"].dump();
  expected["response_format"]["json_schema"]["name"] = "output";  // the SDK named it after the pydantic model
  EXPECT_EQ(build(request), expected);
}

TEST(OpenAiChatRequest, TheOutputSchemaKeepsItsPropertyOrder) {
  ModelRequest request = request_with({Message::user("q")});
  request.output_schema = R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}}})";
  auto body = build_chat_request(request, {});
  ASSERT_TRUE(body.has_value());
  EXPECT_LT(body->find("zeta"), body->find("alpha"));
}

TEST(OpenAiChatRequest, AnAssistantTurnWithToolCallsHasNullContentAndFunctionCalls) {
  const json messages = build(request_with(tool_round_trip(), {weather_tool()}))["messages"];
  ASSERT_EQ(messages.size(), 5u);
  const json& assistant = messages[2];
  EXPECT_EQ(assistant["role"], "assistant");
  EXPECT_TRUE(assistant.contains("content") && assistant["content"].is_null());
  ASSERT_EQ(assistant["tool_calls"].size(), 2u);
  const json function = {{"name", "get_weather"}, {"arguments", R"({"location":"Edinburgh"})"}};
  EXPECT_EQ(assistant["tool_calls"][0], (json{{"id", "call_1"}, {"type", "function"}, {"function", function}}));
  EXPECT_EQ(assistant["tool_calls"][1]["id"], "call_2");
}

TEST(OpenAiChatRequest, ToolResultsAreToolMessagesWithTheirCallIds) {
  const json messages = build(request_with(tool_round_trip(), {weather_tool()}))["messages"];
  EXPECT_EQ(messages[3], (json{{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "12 C"}}));
  EXPECT_EQ(messages[4], (json{{"role", "tool"}, {"tool_call_id", "call_2"}, {"content", "no such city"}}));
}

TEST(OpenAiChatRequest, AnAssistantTurnKeepsItsTextNextToItsToolCalls) {
  const json messages = build(request_with(
      {Message::user("q"), Message::assistant("Let me check.", {ToolCall{"c1", "get_weather", "{}"}})}))["messages"];
  EXPECT_EQ(messages[1]["content"], "Let me check.");
  EXPECT_EQ(messages[1]["tool_calls"].size(), 1u);
}

TEST(OpenAiChatRequest, AnAssistantTurnWithoutToolCallsHasNoToolCallsKey) {
  const json messages = build(request_with({Message::user("q"), Message::assistant("a"), Message::user("q2")}))["messages"];
  EXPECT_EQ(messages[1], (json{{"role", "assistant"}, {"content", "a"}}));
}

TEST(OpenAiChatRequest, EmptyToolCallArgumentsAreSentAsAnEmptyObject) {
  const Conversation conversation{Message::user("q"), Message::assistant("", {ToolCall{"c1", "now", ""}})};
  const json messages = build(request_with(conversation))["messages"];
  EXPECT_EQ(messages[1]["tool_calls"][0]["function"]["arguments"], "{}");
}

TEST(OpenAiChatRequest, AToolWithoutSchemaOrDescriptionTakesAnEmptyObjectSchema) {
  const json tools = build(request_with({Message::user("q")}, {ToolSpec{"now", "", ""}}))["tools"];
  const json empty_schema = {{"type", "object"}, {"properties", json::object()}};
  EXPECT_EQ(tools[0], (json{{"type", "function"}, {"function", {{"name", "now"}, {"parameters", empty_schema}}}}));
}

TEST(OpenAiChatRequest, ToolChoiceKeywordsAreSentAsStrings) {
  for (const char* choice : {"auto", "none", "required"}) {
    const json body = build(request_with({Message::user("q")}, {weather_tool()}), ChatOptions{.tool_choice = choice});
    EXPECT_EQ(body["tool_choice"], choice);
  }
}

TEST(OpenAiChatRequest, AToolChoiceNamingAToolForcesThatFunction) {
  const json body = build(request_with({Message::user("q")}, {weather_tool()}), ChatOptions{.tool_choice = "get_weather"});
  EXPECT_EQ(body["tool_choice"], (json{{"type", "function"}, {"function", {{"name", "get_weather"}}}}));
}

TEST(OpenAiChatRequest, AnEmptyToolChoiceIsLeftOut) {
  const json body = build(request_with({Message::user("q")}, {weather_tool()}));
  EXPECT_FALSE(body.contains("tool_choice"));
  EXPECT_FALSE(body.contains("parallel_tool_calls"));
}

TEST(OpenAiChatRequest, AToolChoiceNamingNoToolOfTheRequestIsAnInvalidArgument) {
  auto body = build_chat_request(request_with({Message::user("q")}, {weather_tool()}), ChatOptions{.tool_choice = "get_time"});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("get_time"), std::string::npos);
}

TEST(OpenAiChatRequest, ToolChoiceAutoOrNoneWithoutToolsIsLeftOutButRequiredIsAnError) {
  EXPECT_FALSE(build(request_with({Message::user("q")}), ChatOptions{.tool_choice = "none"}).contains("tool_choice"));
  EXPECT_FALSE(build(request_with({Message::user("q")}), ChatOptions{.tool_choice = "auto"}).contains("tool_choice"));
  auto body = build_chat_request(request_with({Message::user("q")}), ChatOptions{.tool_choice = "required"});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
}

TEST(OpenAiChatRequest, SwitchingParallelToolCallsOffSendsFalse) {
  const json body = build(request_with({Message::user("q")}, {weather_tool()}), ChatOptions{.parallel_tool_calls = false});
  EXPECT_EQ(body["parallel_tool_calls"], false);
  const json without_tools = build(request_with({Message::user("q")}), ChatOptions{.parallel_tool_calls = false});
  EXPECT_FALSE(without_tools.contains("parallel_tool_calls"));
}

TEST(OpenAiChatRequest, TemperatureAndMaxTokensAreSentWhenSet) {
  const json body = build(request_with({Message::user("q")}), ChatOptions{.temperature = 0.25, .max_tokens = 64});
  EXPECT_EQ(body["temperature"], 0.25);
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_FALSE(body.contains("max_completion_tokens"));
  const json plain = build(request_with({Message::user("q")}));
  EXPECT_FALSE(plain.contains("temperature"));
  EXPECT_FALSE(plain.contains("max_tokens"));
  EXPECT_FALSE(plain.contains("stream"));
}

TEST(OpenAiChatRequest, AToolSchemaThatIsNotJsonIsAnInvalidArgumentNamingTheTool) {
  auto body = build_chat_request(request_with({Message::user("q")}, {ToolSpec{"lookup", "", "{not json"}}), {});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("lookup"), std::string::npos);
}

TEST(OpenAiChatRequest, AnOutputSchemaThatIsNotAnObjectIsAnInvalidArgument) {
  ModelRequest request = request_with({Message::user("q")});
  request.output_schema = "[1, 2]";
  auto body = build_chat_request(request, {});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("output schema"), std::string::npos);
}

TEST(OpenAiChatRequest, AToolResultWithoutItsCallIdIsAnInvalidArgument) {
  auto body = build_chat_request(request_with({Message::user("q"), Message::tool_result("", "lookup", "x")}), {});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
}

TEST(OpenAiChatRequest, AnEmptyModelOrConversationIsAnInvalidArgument) {
  ModelRequest no_model = request_with({Message::user("q")});
  no_model.model.clear();
  EXPECT_EQ(build_chat_request(no_model, {}).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(build_chat_request(request_with({}), {}).error().code, ErrorCode::invalid_argument);
}

TEST(OpenAiChatRequest, InvalidUtf8InAMessageIsReplacedNotThrown) {
  auto body = build_chat_request(request_with({Message::user("bad \xFF byte")}), {});
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(json::parse(*body)["messages"][0]["content"], "bad \xEF\xBF\xBD byte");
}
