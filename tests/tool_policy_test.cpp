// Tool calls the runtime answers without running the tool: calls the user's tool policy denies,
// and arguments that do not match the tool's parameters schema. Both go back to the model as tool
// errors it can act on; the tool never sees them.
#include <gtest/gtest.h>

#include <atomic>

#include <nlohmann/json.hpp>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/tool_policy.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::shared_runtime;

namespace {

struct Counted {
  std::shared_ptr<std::atomic<int>> calls;
  Tool tool;
};

Counted counted_tool(std::string name, std::string schema = "") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto tool = Tool::function(name, "", schema,
                             [calls, name](const ToolContext&, std::string_view args) -> Expected<std::string> {
                               ++*calls;
                               return name + " ran with " + std::string(args);
                             })
                  .value();
  return Counted{calls, tool};
}

Agent agent_calling(const std::string& tool, std::vector<Tool> tools, std::string args = "{}") {
  auto model = providers::scripted({
      {.text = "", .tool_calls = {ToolCall{"c1", tool, std::move(args)}}},
      {.text = "done"},
  });
  return Agent::create({.name = "a", .model = model, .tools = std::move(tools)}).value();
}

}  // namespace

TEST(ToolPolicy, TheFirstMatchingRuleDecides) {
  ToolPolicy policy;
  policy.allow("alice", "bash").deny("*", "bash").deny("guest", "fs_*");
  EXPECT_FALSE(policy.refusal(UserId("alice"), "bash"));
  EXPECT_TRUE(policy.refusal(UserId("bob"), "bash"));
  EXPECT_TRUE(policy.refusal(UserId("guest"), "fs_write"));
  EXPECT_FALSE(policy.refusal(UserId("guest"), "search"));  // no rule: the default allows
  EXPECT_EQ(*policy.refusal(UserId("bob"), "bash"),
            "tool 'bash' is not allowed for user 'bob' (tool policy rule: deny user '*' tool 'bash')");
}

TEST(ToolPolicy, DenyByDefaultRefusesWhatNoRuleAllows) {
  ToolPolicy policy;
  policy.allow("*", "search").deny_by_default();
  EXPECT_FALSE(policy.refusal(UserId("anyone"), "search"));
  EXPECT_EQ(*policy.refusal(UserId("anyone"), "bash"),
            "tool 'bash' is not allowed for user 'anyone' (tool policy: no rule allows it, and the default is deny)");
}

TEST(ToolPolicy, ReadsTheSpecFormAndNamesWhatIsWrong) {
  auto policy = ToolPolicy::from_json(nlohmann::json::parse(R"({"default":"deny","rules":[
      {"user":"alice","tool":"fs_*","effect":"allow"}]})"),
                                      "$.tool_policy");
  ASSERT_TRUE(policy) << policy.error().describe();
  EXPECT_FALSE(policy->refusal(UserId("alice"), "fs_read"));
  EXPECT_TRUE(policy->refusal(UserId("bob"), "fs_read"));
  auto bad = ToolPolicy::from_json(nlohmann::json::parse(R"({"rules":[{"user":"a","tool":"b","effect":"maybe"}]})"),
                                   "$.tool_policy");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "$.tool_policy.rules[0].effect: expected \"allow\" or \"deny\"");
}

TEST(ToolPolicy, ADeniedCallNeverRunsAndTheModelGetsTheRefusal) {
  auto bash = counted_tool("bash");
  auto policy = std::make_shared<ToolPolicy>();
  policy->deny("bob", "bash");
  Runtime runtime(RuntimeConfig{.worker_threads = 2, .tool_policy = policy});
  RunOptions options;
  options.user_id = UserId("bob");
  auto result = runtime.run(agent_calling("bash", {bash.tool}), "go", options);
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(bash.calls->load(), 0);
  ASSERT_EQ(result->messages.size(), 4u);
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->messages[2].content,
            "tool 'bash' is not allowed for user 'bob' (tool policy rule: deny user 'bob' tool 'bash')");
  EXPECT_EQ(result->usage.tool_errors, 1u);
  const TraceStep* step = nullptr;
  for (const auto& s : result->trace)
    if (s.kind == StepKind::tool) step = &s;
  ASSERT_NE(step, nullptr);
  EXPECT_TRUE(step->denied);
  EXPECT_FALSE(step->ok);
  EXPECT_EQ(step->step_name, "a/turn-1/tool-0");
}

TEST(ToolPolicy, AnotherUserOfTheSameRuntimeMayCallTheTool) {
  auto bash = counted_tool("bash");
  auto policy = std::make_shared<ToolPolicy>();
  policy->deny("bob", "bash");
  Runtime runtime(RuntimeConfig{.worker_threads = 2, .tool_policy = policy});
  RunOptions options;
  options.user_id = UserId("alice");
  auto result = runtime.run(agent_calling("bash", {bash.tool}), "go", options);
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(bash.calls->load(), 1);
  EXPECT_EQ(result->messages[2].content, "bash ran with {}");
  EXPECT_EQ(result->usage.tool_errors, 0u);
}

TEST(ToolArguments, ArgumentsThatBreakTheSchemaGoBackToTheModelAndTheToolNeverSeesThem) {
  auto add = counted_tool("add", R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},
                                     "required":["a","b"],"additionalProperties":false})");
  auto model = providers::scripted({
      {.text = "", .tool_calls = {ToolCall{"c1", "add", R"({"a":"two","b":3})"}}},
      {.text = "", .tool_calls = {ToolCall{"c2", "add", R"({"a":2,"b":3})"}}},  // the model corrects itself
      {.text = "5"},
  });
  auto agent = Agent::create({.name = "calc", .model = model, .tools = {add.tool}}).value();
  auto result = shared_runtime().run(agent, "2+3?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "5");
  EXPECT_EQ(add.calls->load(), 1);
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->messages[2].content, "invalid arguments for tool 'add': $.a: expected number, got string");
  EXPECT_EQ(result->messages[4].content, R"(add ran with {"a":2,"b":3})");
  EXPECT_EQ(result->usage.tool_errors, 1u);
}

TEST(ToolArguments, ArgumentsThatAreNotJsonAreAToolError) {
  auto add = counted_tool("add", R"({"type":"object"})");
  auto result = shared_runtime().run(agent_calling("add", {add.tool}, "{\"a\": 1"), "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(add.calls->load(), 0);
  EXPECT_EQ(result->messages[2].content, "invalid arguments for tool 'add': not valid JSON");
}

TEST(ToolArguments, EmptyArgumentsMeanAnEmptyObject) {
  auto now = counted_tool("now", R"({"type":"object","properties":{}})");
  auto result = shared_runtime().run(agent_calling("now", {now.tool}, ""), "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(now.calls->load(), 1);
  EXPECT_FALSE(result->messages[2].is_error);
}

TEST(ToolArguments, AWorkflowToolChecksItsInputArgumentToo) {
  auto wf = Workflow::chain("echo_wf", {loomflow::testing::append("x", "!")}).value();
  auto result = shared_runtime().run(agent_calling("run_wf", {wf.as_tool("run_wf", "")}, R"({"text":"hi"})"), "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->messages[2].content, "invalid arguments for tool 'run_wf': $: missing required property 'input'");
}
