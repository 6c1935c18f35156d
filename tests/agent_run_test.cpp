// The agent loop: model turns, parallel tool calls, the turn cap, tool errors, structured output,
// and the built-in echo and scripted models.
#include <gtest/gtest.h>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/builtin.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::providers::ScriptedReply;
using loomflow::testing::Rendezvous;
using loomflow::testing::shared_runtime;

namespace {

Tool echo_tool(std::string name, std::shared_ptr<Rendezvous> meeting = nullptr) {
  return Tool::function(
             name, "Echoes its arguments.", "",
             [name, meeting](const ToolContext& ctx, std::string_view args) -> Expected<std::string> {
               if (meeting && !meeting->arrive_and_wait()) return std::string("sequential");
               return name + std::string(args) + "@" + std::string(ctx.step_name);
             },
             ToolOptions{.blocking = meeting != nullptr})
      .value();
}

ToolCall call(std::string id, std::string name, std::string args = "{}") {
  return ToolCall{std::move(id), std::move(name), std::move(args)};
}

}  // namespace

TEST(AgentRun, TheEchoModelAnswersWithTheUsersMessage) {
  auto agent = Agent::create({.name = "parrot", .instructions = "Repeat.", .model = providers::echo()}).value();
  auto result = shared_runtime().run(agent, "hello there");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "hello there");
  ASSERT_EQ(result->messages.size(), 3u);  // system, user, assistant
  EXPECT_EQ(result->messages[0].role, Role::system);
  EXPECT_EQ(result->usage.model_calls, 1u);
  EXPECT_GT(result->usage.input_tokens, 0u);
  EXPECT_EQ(result->trace.front().step_name, "parrot/turn-1/model");
}

TEST(AgentRun, AllToolCallsOfATurnRunConcurrentlyAndReturnInCallOrder) {
  auto meeting = std::make_shared<Rendezvous>(3);
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "b", R"({"n":1})"), call("c2", "a", R"({"n":2})"), call("c3", "b", R"({"n":3})")}},
      {.text = "done"},
  });
  auto agent = Agent::create({.name = "fan",
                              .model = model,
                              .tools = {echo_tool("a", meeting), echo_tool("b", meeting)}})
                   .value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "done");
  // user, assistant(tool calls), 3 tool results, assistant
  ASSERT_EQ(result->messages.size(), 6u);
  EXPECT_EQ(result->messages[2].tool_call_id, "c1");
  EXPECT_EQ(result->messages[2].content, R"(b{"n":1}@fan/turn-1/tool-0)");
  EXPECT_EQ(result->messages[3].tool_call_id, "c2");
  EXPECT_EQ(result->messages[3].content, R"(a{"n":2}@fan/turn-1/tool-1)");
  EXPECT_EQ(result->messages[4].tool_call_id, "c3");
  EXPECT_EQ(result->usage.tool_calls, 3u);
  EXPECT_EQ(result->usage.model_calls, 2u);
  EXPECT_EQ(providers::verify_consumed(model).has_value(), true);
}

TEST(AgentRun, EveryToolCallGetsExactlyOneResultEvenWhenSomeFail) {
  auto failing = Tool::function("fails", "", "", [](const ToolContext&, std::string_view) -> Expected<std::string> {
                   return Error{ErrorCode::tool_error, "disk on fire"};
                 }).value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "fails"), call("c2", "ok"), call("c3", "missing")}},
      {.text = "recovered"},
  });
  auto agent = Agent::create({.name = "robust", .model = model, .tools = {failing, echo_tool("ok")}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_EQ(result->messages.size(), 6u);
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->messages[2].content, "error: disk on fire");
  EXPECT_FALSE(result->messages[3].is_error);
  EXPECT_TRUE(result->messages[4].is_error);
  EXPECT_EQ(result->messages[4].content, "unknown tool 'missing'; available tools: fails, ok");
  EXPECT_EQ(result->usage.tool_errors, 2u);
}

TEST(AgentRun, NeedingMoreTurnsThanMaxTurnsIsAnErrorNamingTheAgentAndTheCap) {
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "ok")}},
      {.text = "", .tool_calls = {call("c2", "ok")}},
      {.text = "never reached"},
  });
  auto agent = Agent::create({.name = "looper", .model = model, .tools = {echo_tool("ok")}, .max_turns = 2}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::max_turns_exceeded);
  EXPECT_NE(result.error().message.find("agent 'looper' exceeded max_turns = 2"), std::string::npos)
      << result.error().message;
}

TEST(AgentRun, AStructuredAnswerMatchingTheOutputSchemaIsReturned) {
  auto agent = Agent::create({.name = "json",
                              .model = providers::scripted({{.text = R"({"label":"billing"})"}}),
                              .output_schema = R"({"type":"object","properties":{"label":{"enum":["billing","tech"]}},"required":["label"]})"})
                   .value();
  auto result = shared_runtime().run(agent, "classify");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, R"({"label":"billing"})");
}

TEST(AgentRun, AnAnswerViolatingTheOutputSchemaIsAnErrorNamingTheViolation) {
  auto agent = Agent::create({.name = "json",
                              .model = providers::scripted({{.text = R"({"label":"sales"})"}}),
                              .output_schema = R"({"type":"object","properties":{"label":{"enum":["billing","tech"]}},"required":["label"]})"})
                   .value();
  auto result = shared_runtime().run(agent, "classify");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::output_schema_violation);
  EXPECT_NE(result.error().message.find("$.label"), std::string::npos) << result.error().message;
}

TEST(AgentRun, AnInvalidOutputSchemaIsRejectedWhenTheAgentIsCreated) {
  auto agent = Agent::create({.name = "bad", .model = providers::echo(), .output_schema = R"({"type": 5})"});
  ASSERT_FALSE(agent);
  EXPECT_NE(agent.error().message.find("agent 'bad' output_schema"), std::string::npos) << agent.error().message;
}

TEST(AgentRun, AgentCreationRejectsABadNameNoModelAZeroTurnCapAndDuplicateTools) {
  EXPECT_FALSE(Agent::create({.name = "has space", .model = providers::echo()}));
  EXPECT_FALSE(Agent::create({.name = "nomodel"}));
  EXPECT_FALSE(Agent::create({.name = "zero", .model = providers::echo(), .max_turns = 0}));
  auto dup = Agent::create({.name = "dup", .model = providers::echo(), .tools = {echo_tool("t"), echo_tool("t")}});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("two tools named 't'"), std::string::npos);
}

TEST(ScriptedModel, ACallBeyondTheScriptFailsLoudly) {
  auto model = providers::scripted({{.text = "", .tool_calls = {call("c1", "ok")}}});
  auto agent = Agent::create({.name = "short", .model = model, .tools = {echo_tool("ok")}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::script_exhausted);
  EXPECT_NE(result.error().message.find("unexpected call #2"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("short/turn-2/model"), std::string::npos) << result.error().message;
}

TEST(ScriptedModel, ACallNotContainingTheExpectedTextFailsLoudly) {
  auto model = providers::scripted({{.text = "hi", .expect = "refund"}});
  auto agent = Agent::create({.name = "picky", .model = model}).value();
  auto result = shared_runtime().run(agent, "hello");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::script_mismatch);
  EXPECT_NE(result.error().message.find("\"refund\""), std::string::npos) << result.error().message;
}

TEST(ScriptedModel, UnconsumedRepliesAreReportedByVerifyConsumed) {
  auto model = providers::scripted({{.text = "one"}, {.text = "two"}});
  auto agent = Agent::create({.name = "once", .model = model}).value();
  ASSERT_TRUE(shared_runtime().run(agent, "go"));
  auto verdict = providers::verify_consumed(model);
  ASSERT_FALSE(verdict);
  EXPECT_NE(verdict.error().message.find("1 of 2 scripted replies were never consumed"), std::string::npos)
      << verdict.error().message;
}

TEST(AgentRun, AnAgentIsAWorkflowNodeWhoseStepsNestUnderTheNode) {
  auto model = providers::scripted({{.text = "", .tool_calls = {call("c1", "ok")}}, {.text = "answer"}});
  auto agent = Agent::create({.name = "helper", .model = model, .tools = {echo_tool("ok")}}).value();
  auto wf = Workflow::chain("w", {loomflow::testing::append("pre", "!"), Node::agent("ask", agent)}).value();
  auto result = shared_runtime().run(wf, "q");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "answer");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"pre", "ask"}));
  std::vector<std::string> steps;
  for (const auto& t : result->trace) steps.push_back(t.step_name);
  EXPECT_EQ(steps, (std::vector<std::string>{"pre#1", "ask#1/turn-1/model", "ask#1/turn-1/tool-0",
                                             "ask#1/turn-2/model", "ask#1"}));
  EXPECT_EQ(result->usage.model_calls, 2u);
}

TEST(AgentRun, AWorkflowAsAToolRunsNestedUnderTheToolStep) {
  auto inner = Workflow::chain("shout", {Node::function("up", tools::builtin_functions().at("uppercase"))}).value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "shout", R"({"input":"quiet"})")}},
      {.text = "done", .expect = "QUIET"},
  });
  auto agent = Agent::create({.name = "caller", .model = model, .tools = {inner.as_tool("shout", "Shouts.")}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->messages[2].content, "QUIET");
  std::vector<std::string> steps;
  for (const auto& t : result->trace) steps.push_back(t.step_name);
  EXPECT_EQ(steps, (std::vector<std::string>{"caller/turn-1/model", "caller/turn-1/tool-0/up#1", "caller/turn-1/tool-0",
                                             "caller/turn-2/model"}));
}

TEST(AgentRun, AWorkflowToolWithBadArgumentsReturnsAToolErrorToTheModel) {
  auto inner = Workflow::chain("w", {loomflow::testing::append("x", "")}).value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "w", R"({"text":1})")}},
      {.text = "ok", .expect = "input"},
  });
  auto agent = Agent::create({.name = "caller", .model = model, .tools = {inner.as_tool("w", "")}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->usage.tool_errors, 1u);
}

TEST(AgentRun, NestingIsTheSameAsANodeAndAsATool) {
  // The same workflow under a node and under a tool step: the inner step names differ only by prefix.
  auto inner = Workflow::chain("inner", {loomflow::testing::append("x", "x")}).value();
  auto via_node = Workflow::chain("outer", {Node::workflow("inner", inner)}).value();
  auto node_run = shared_runtime().run(via_node, "");
  ASSERT_TRUE(node_run);
  auto model = providers::scripted({{.text = "", .tool_calls = {call("c1", "inner", R"({"input":""})")}}, {.text = "ok"}});
  auto agent = Agent::create({.name = "a", .model = model, .tools = {inner.as_tool("inner", "")}}).value();
  auto tool_run = shared_runtime().run(agent, "");
  ASSERT_TRUE(tool_run);
  EXPECT_EQ(node_run->trace[0].step_name, "inner#1/x#1");
  EXPECT_EQ(tool_run->trace[1].step_name, "a/turn-1/tool-0/x#1");
}

TEST(AgentRun, EarlierTurnsGivenAsHistoryComeBetweenTheInstructionsAndTheInput) {
  auto agent = Agent::create({.name = "chat", .instructions = "Be brief.", .model = providers::echo()}).value();
  RunOptions options;
  options.history = {Message::user("my name is Ada"), Message::assistant("hello Ada")};
  auto result = shared_runtime().run(agent, "what is my name?", options);
  ASSERT_TRUE(result) << result.error().describe();
  ASSERT_EQ(result->messages.size(), 5u);
  EXPECT_EQ(result->messages[0].content, "Be brief.");
  EXPECT_EQ(result->messages[1].content, "my name is Ada");
  EXPECT_EQ(result->messages[2].role, Role::assistant);
  EXPECT_EQ(result->messages[3].content, "what is my name?");
}

TEST(AgentRun, APerRunScriptAnswersEveryRunFromItsFirstReply) {
  auto model = providers::scripted_per_run({{.tool_calls = {call("c1", "a")}}, {.text = "done"}});
  auto agent = Agent::create({.name = "again", .model = model, .tools = {echo_tool("a")}}).value();
  for (int run = 0; run < 3; ++run) {
    auto result = shared_runtime().run(agent, "go");
    ASSERT_TRUE(result) << result.error().describe();
    EXPECT_EQ(result->output, "done");
  }
}

TEST(AgentRun, APerRunScriptTooShortForTheRunNamesTheTurn) {
  auto model = providers::scripted_per_run({{.tool_calls = {call("c1", "a")}}});
  auto agent = Agent::create({.name = "short", .model = model, .tools = {echo_tool("a")}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("asked for reply 2 of a 1-reply script"), std::string::npos)
      << result.error().message;
}
