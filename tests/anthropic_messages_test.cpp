// The Anthropic Messages request builder against recorded wire traffic: bodies compared in structure
// with what the official SDKs sent. (Responses: anthropic_messages_response_test.cpp; streams:
// anthropic_messages_stream_test.cpp.)
#include <gtest/gtest.h>

#include "fixtures.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "loomflow/providers/wire/anthropic_messages.hpp"

using namespace loomflow;
using namespace loomflow::providers::wire::anthropic;
using nlohmann::json;

using loomflow::testing::read_fixture;

namespace {


// The body the SDK sent in a requests/*.json recording, with string contents written as the one
// text block they stand for (the API reads "content": "Hi" as [{"type":"text","text":"Hi"}]).
json sdk_body(const std::string& scenario) {
  json body = json::parse(read_fixture("requests/" + scenario + ".json"))["requests"][0]["body"];
  for (json& message : body["messages"])
    if (message["content"].is_string())
      message["content"] = json::array({{{"type", "text"}, {"text", message["content"]}}});
  return body;
}

json built(const ModelRequest& request, const MessagesOptions& options = {}) {
  auto body = build_messages_request(request, options);
  EXPECT_TRUE(body.has_value()) << (body ? "" : body.error().describe());
  return body ? json::parse(*body) : json();
}

ToolSpec weather_tool() {
  return ToolSpec{"get_weather", "Get the current weather in a given location",
                  R"({"type":"object","properties":{"location":{"type":"string"},)"
                  R"("unit":{"type":"string","enum":["c","f"]}},"required":["location"]})"};
}

ModelRequest hello(std::string model = "claude-haiku-4-5") {
  ModelRequest request;
  request.model = std::move(model);
  request.messages = Conversation{Message::user("Hello")};
  return request;
}

ModelRequest tool_turn() {
  ModelRequest request = hello();
  request.tools = {weather_tool()};
  request.messages = Conversation{
      Message::user("Weather in SF and Paris?"),
      Message::assistant("Checking both.", {ToolCall{"toolu_1", "get_weather", R"({"location":"SF"})"},
                                            ToolCall{"toolu_2", "get_weather", R"({"location":"Paris"})"}}),
      Message::tool_result("toolu_1", "get_weather", "68F"),
      Message::tool_result("toolu_2", "get_weather", "no such city", true)};
  return request;
}

}  // namespace

TEST(AnthropicRequest, ASystemMessageBecomesTheTopLevelSystemStringAsTheSdkSendsIt) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::system("You are terse."), Message::user("Hello")};
  MessagesOptions options;
  options.max_tokens = 1024;
  EXPECT_EQ(built(request, options), sdk_body("anthropic-messages-nonstream"));
  EXPECT_EQ(built(request, options), sdk_body("anthropic0-messages-nonstream"));
}

TEST(AnthropicRequest, SeveralSystemMessagesAreJoinedWithABlankLine) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::system("Be terse."), Message::user("Hello"), Message::system("Be kind.")};
  json body = built(request);
  EXPECT_EQ(body["system"], "Be terse.\n\nBe kind.");
  ASSERT_EQ(body["messages"].size(), 1u);
}

TEST(AnthropicRequest, NoSystemMessageMeansNoSystemKey) { EXPECT_FALSE(built(hello()).contains("system")); }

TEST(AnthropicRequest, MaxTokensIsAlwaysSentAndMatchesTheSdkRetryScenarios) {
  MessagesOptions options;
  options.max_tokens = 64;
  EXPECT_EQ(built(hello(), options), sdk_body("anthropic-messages-429-then-ok"));
  EXPECT_EQ(built(hello(), options), sdk_body("anthropic-messages-529-then-ok"));
  EXPECT_EQ(built(hello())["max_tokens"], 4096);
}

TEST(AnthropicRequest, ANonPositiveMaxTokensIsAnInvalidArgument) {
  MessagesOptions options;
  options.max_tokens = 0;
  auto body = build_messages_request(hello(), options);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("max_tokens"), std::string::npos);
}

TEST(AnthropicRequest, TheStreamFlagIsSentOnlyWhenStreaming) {
  MessagesOptions options;
  options.max_tokens = 1024;
  EXPECT_FALSE(built(hello(), options).contains("stream"));
  options.stream = true;
  EXPECT_EQ(built(hello(), options), sdk_body("anthropic-messages-stream"));
  EXPECT_EQ(built(hello(), options), sdk_body("anthropic0-messages-stream"));
}

TEST(AnthropicRequest, TemperatureIsSentOnlyWhenSet) {
  MessagesOptions options;
  EXPECT_FALSE(built(hello(), options).contains("temperature"));
  options.temperature = 0.25;
  EXPECT_EQ(built(hello(), options)["temperature"], 0.25);
}

TEST(AnthropicRequest, ToolsCarryNameDescriptionAndInputSchemaWithAutoToolChoice) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::user("Weather in SF?")};
  request.tools = {weather_tool()};
  MessagesOptions options;
  options.max_tokens = 1024;
  options.tool_choice = "auto";
  EXPECT_EQ(built(request, options), sdk_body("anthropic-messages-nonstream-tools"));
}

TEST(AnthropicRequest, StreamedToolRequestsMatchTheSdk) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::user("Weather in Paris?")};
  request.tools = {weather_tool()};
  MessagesOptions options;
  options.max_tokens = 1024;
  options.stream = true;
  EXPECT_EQ(built(request, options), sdk_body("anthropic-messages-stream-tools-accumulated"));
  EXPECT_EQ(built(request, options), sdk_body("anthropic0-messages-stream-tools-accumulated"));
}

TEST(AnthropicRequest, AToolWithoutSchemaGetsAnEmptyObjectSchemaAndNoEmptyDescription) {
  ModelRequest request = hello();
  request.tools = {ToolSpec{"now", "", ""}};
  EXPECT_EQ(built(request)["tools"], json::parse(R"([{"name":"now","input_schema":{"type":"object"}}])"));
}

TEST(AnthropicRequest, AToolSchemaThatIsNotJsonIsAnInvalidArgumentNamingTheTool) {
  ModelRequest request = hello();
  request.tools = {ToolSpec{"broken", "", "{not json"}};
  auto body = build_messages_request(request, {});
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("broken"), std::string::npos);
}

TEST(AnthropicRequest, AssistantToolCallsAndResultsAreEncodedAsTheRecordedExchange) {
  // The recorded Python SDK exchange: user, assistant tool_use, user tool_result.
  const json sent = json::parse(read_fixture("anthropic/messages/nonstream-text.exchange.json"))["request"]["body"];
  ModelRequest request = hello();
  request.messages = Conversation{
      Message::user("What is the weather in SF?"),
      Message::assistant("", {ToolCall{"toolu_016xm9m1i3NcGW5xFMMZJTqY", "get_weather",
                                       R"({"location":"San Francisco, CA","units":"f"})"}}),
      Message::tool_result("toolu_016xm9m1i3NcGW5xFMMZJTqY", "get_weather",
                           sent["messages"][2]["content"][0]["content"].get<std::string>())};
  const json messages = built(request)["messages"];
  ASSERT_EQ(messages.size(), 3u);
  json expected_use = sent["messages"][1]["content"][0];
  expected_use.erase("caller");  // what the API added to its own block; clients need not echo it
  EXPECT_EQ(messages[1]["role"], "assistant");
  EXPECT_EQ(messages[1]["content"], json::array({expected_use}));
  EXPECT_EQ(messages[2], sent["messages"][2]);
}

TEST(AnthropicRequest, AssistantTextComesBeforeItsToolUseBlocks) {
  const json assistant = built(tool_turn())["messages"][1];
  EXPECT_EQ(assistant["role"], "assistant");
  ASSERT_EQ(assistant["content"].size(), 3u);
  EXPECT_EQ(assistant["content"][0], json::parse(R"({"type":"text","text":"Checking both."})"));
  EXPECT_EQ(assistant["content"][1]["type"], "tool_use");
  EXPECT_EQ(assistant["content"][1]["input"], json::parse(R"({"location":"SF"})"));
  EXPECT_EQ(assistant["content"][2]["id"], "toolu_2");
}

TEST(AnthropicRequest, ConsecutiveToolResultsGoIntoOneUserMessage) {
  const json messages = built(tool_turn())["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[2]["role"], "user");
  ASSERT_EQ(messages[2]["content"].size(), 2u);
  EXPECT_EQ(messages[2]["content"][0]["tool_use_id"], "toolu_1");
  EXPECT_EQ(messages[2]["content"][1]["tool_use_id"], "toolu_2");
}

TEST(AnthropicRequest, AUserMessageAfterToolResultsJoinsTheirUserTurn) {
  ModelRequest request = tool_turn();
  request.messages.push_back(Message::user("Thanks, now summarise."));
  const json messages = built(request)["messages"];
  ASSERT_EQ(messages.size(), 3u);
  ASSERT_EQ(messages[2]["content"].size(), 3u);
  EXPECT_EQ(messages[2]["content"][2], json::parse(R"({"type":"text","text":"Thanks, now summarise."})"));
}

TEST(AnthropicRequest, IsErrorIsSentOnlyForFailedToolResults) {
  const json results = built(tool_turn())["messages"][2]["content"];
  EXPECT_EQ(results[0], json::parse(R"({"type":"tool_result","tool_use_id":"toolu_1","content":"68F"})"));
  EXPECT_EQ(results[1]["is_error"], true);
}

TEST(AnthropicRequest, ToolCallArgumentsThatAreNotAJsonObjectAreAnErrorNamingTheCall) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::user("Hi"),
                                  Message::assistant("", {ToolCall{"toolu_9", "get_weather", R"(["SF"])"}})};
  auto body = build_messages_request(request, {});
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("toolu_9"), std::string::npos);
  EXPECT_NE(body.error().message.find("get_weather"), std::string::npos);
}

TEST(AnthropicRequest, EmptyToolCallArgumentsAreSentAsAnEmptyObject) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::user("Hi"), Message::assistant("", {ToolCall{"toolu_1", "now", ""}})};
  EXPECT_EQ(built(request)["messages"][1]["content"][0]["input"], json::object());
}

TEST(AnthropicRequest, StructuredOutputAddsAStrictToolAndForcesIt) {
  ModelRequest request = hello();
  request.output_schema = R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})";
  const json body = built(request);
  ASSERT_EQ(body["tools"].size(), 1u);
  const json& tool = body["tools"][0];
  EXPECT_EQ(tool["name"], "structured_output");
  EXPECT_EQ(tool["input_schema"], json::parse(request.output_schema));
  EXPECT_EQ(tool["strict"], true);
  EXPECT_EQ(body["tool_choice"], json::parse(R"({"type":"tool","name":"structured_output"})"));
}

TEST(AnthropicRequest, StructuredOutputWithOtherToolsRequiresSomeToolCall) {
  ModelRequest request = hello();
  request.tools = {weather_tool()};
  request.output_schema = R"({"type":"object"})";
  const json body = built(request);
  ASSERT_EQ(body["tools"].size(), 2u);
  EXPECT_EQ(body["tools"][1]["name"], "structured_output");
  EXPECT_EQ(body["tool_choice"], json::parse(R"({"type":"any"})"));
}

TEST(AnthropicRequest, AToolNamedStructuredOutputClashesWithAnOutputSchema) {
  ModelRequest request = hello();
  request.tools = {ToolSpec{"structured_output", "", ""}};
  request.output_schema = R"({"type":"object"})";
  auto body = build_messages_request(request, {});
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
}

TEST(AnthropicRequest, ToolChoiceKeywordsBecomeTypedObjects) {
  ModelRequest request = hello();
  request.tools = {weather_tool()};
  for (const char* keyword : {"auto", "any", "none"}) {
    MessagesOptions options;
    options.tool_choice = keyword;
    EXPECT_EQ(built(request, options)["tool_choice"], json({{"type", keyword}})) << keyword;
  }
  EXPECT_FALSE(built(request).contains("tool_choice"));
}

TEST(AnthropicRequest, ToolChoiceNamingAToolForcesThatTool) {
  ModelRequest request = hello();
  request.tools = {weather_tool()};
  MessagesOptions options;
  options.tool_choice = "get_weather";
  EXPECT_EQ(built(request, options)["tool_choice"], json::parse(R"({"type":"tool","name":"get_weather"})"));
}

TEST(AnthropicRequest, ToolChoiceNamingAnUnknownToolIsAnInvalidArgument) {
  MessagesOptions options;
  options.tool_choice = "get_weather";
  auto body = build_messages_request(hello(), options);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(body.error().message.find("get_weather"), std::string::npos);
}

TEST(AnthropicRequest, AConversationWithoutUserOrAssistantMessagesIsAnInvalidArgument) {
  ModelRequest request = hello();
  request.messages = Conversation{Message::system("Only instructions.")};
  auto body = build_messages_request(request, {});
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, ErrorCode::invalid_argument);
}
