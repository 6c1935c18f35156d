// Workflow runs: builders, routers, cycles and the visit cap, parallel joins, nesting, many runs.
#include <gtest/gtest.h>

#include <thread>

#include "loomflow/providers/builtin.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::append;
using loomflow::testing::Rendezvous;
using loomflow::testing::shared_runtime;

TEST(WorkflowRun, AChainRunsItsNodesInOrderAndReportsThePath) {
  auto wf = Workflow::chain("abc", {append("a", "1"), append("b", "2"), append("c", "3")}).value();
  auto result = shared_runtime().run(wf, "x");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "x123");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(result->trace.size(), 3u);
  EXPECT_EQ(result->trace[0].step_name, "a#1");
  EXPECT_EQ(result->trace[2].step_name, "c#1");
}

TEST(WorkflowRun, RouteSendsTheInputToTheBranchNamedAfterTheClassifierLabel) {
  auto classify = Node::function("classify", [](std::string_view q) {
    return std::string(q.find("charged") != std::string_view::npos ? "billing" : "tech");
  });
  auto wf = Workflow::route("support", classify, {{"billing", append("b", " [billing]")}, {"tech", append("t", " [tech]")}})
                .value();
  auto billing = shared_runtime().run(wf, "My card was charged twice.");
  ASSERT_TRUE(billing) << billing.error().describe();
  EXPECT_EQ(billing->visited, (std::vector<std::string>{"classify", "route_billing"}));
  EXPECT_EQ(billing->output, "billing [billing]");  // a branch receives the classifier's output
  auto tech = shared_runtime().run(wf, "The app crashes.");
  ASSERT_TRUE(tech);
  EXPECT_EQ(tech->visited, (std::vector<std::string>{"classify", "route_tech"}));
}

TEST(WorkflowRun, RouterLabelsAreComparedTrimmedAndCaseInsensitively) {
  auto wf = WorkflowBuilder("w")
                .add_node(Node::function("label", [](std::string_view) { return std::string("  Billing\n"); }))
                .add_node(append("pay", "!"))
                .add_router("label", [](std::string_view out) -> Expected<std::string> { return std::string(out); },
                            {{"billing", "pay"}})
                .build()
                .value();
  auto result = shared_runtime().run(wf, "");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->visited, (std::vector<std::string>{"label", "pay"}));
}

TEST(WorkflowRun, AnUnknownRouteLabelFailsTheRunNamingTheLabelAndTheKnownLabels) {
  auto wf = Workflow::route("support", Node::function("classify", [](std::string_view) { return std::string("refund"); }),
                            {{"billing", append("b", "")}, {"tech", append("t", "")}})
                .value();
  auto result = shared_runtime().run(wf, "?");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unknown_route_label);
  EXPECT_NE(result.error().message.find("'refund'"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("billing, tech"), std::string::npos) << result.error().message;
}

TEST(WorkflowRun, ACycleRunsUntilTheRouterExitsAndCountsEveryVisit) {
  auto inc = Node::function("inc", [](std::string_view in) { return std::to_string(std::stoi(std::string(in)) + 1); });
  auto wf = WorkflowBuilder("loop")
                .add_node(inc)
                .add_router("inc",
                            [](std::string_view out) -> Expected<std::string> {
                              return std::string(std::stoi(std::string(out)) < 5 ? "again" : "done");
                            },
                            {{"again", "inc"}, {"done", std::string(Workflow::END)}})
                .max_visits_per_node(10)
                .build()
                .value();
  auto result = shared_runtime().run(wf, "0");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "5");
  EXPECT_EQ(result->visited.size(), 5u);
  EXPECT_EQ(result->trace.back().step_name, "inc#5");
}

TEST(WorkflowRun, ExceedingMaxVisitsPerNodeStopsTheRunNamingTheNodeAndTheCap) {
  auto wf = WorkflowBuilder("forever")
                .add_node(append("spin", "."))
                .add_edge("spin", "spin")
                .max_visits_per_node(3)
                .build()
                .value();
  auto result = shared_runtime().run(wf, "");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::visit_cap_exceeded);
  EXPECT_NE(result.error().message.find("'spin'"), std::string::npos);
  EXPECT_NE(result.error().message.find("max_visits_per_node = 3"), std::string::npos) << result.error().message;
}

TEST(WorkflowRun, TheDefaultVisitCapIsTwentyFive) {
  auto wf = WorkflowBuilder("forever").add_node(append("spin", ".")).add_edge("spin", "spin").build().value();
  auto result = shared_runtime().run(wf, "");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("max_visits_per_node = 25"), std::string::npos) << result.error().message;
}

TEST(WorkflowRun, ParallelBranchesRunConcurrentlyAndJoinInDeclarationOrder) {
  auto meeting = std::make_shared<Rendezvous>(3);
  auto branch = [meeting](std::string name) {
    return Node::function(
        name,
        [meeting, name](std::string_view in) {
          return std::string(meeting->arrive_and_wait() ? name + ":" + std::string(in) : "sequential");
        },
        NodeOptions{.blocking = true});
  };
  auto join = Node::function("join", [](std::string_view merged) { return std::string(merged); });
  auto wf = Workflow::parallel("fan", {branch("c"), branch("a"), branch("b")}, join).value();
  auto result = shared_runtime().run(wf, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, R"({"c":"c:go","a":"a:go","b":"b:go"})");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"c", "a", "b", "join"}));
}

TEST(WorkflowRun, AParallelGroupCanUseACustomMerge) {
  auto wf = WorkflowBuilder("fan")
                .add_node(append("start", ""))
                .add_node(append("x", "1"))
                .add_node(append("y", "2"))
                .add_node(append("join", "!"))
                .add_parallel("start", {"x", "y"}, "join",
                              [](const std::vector<BranchOutput>& outs) -> Expected<std::string> {
                                return outs[0].output + "+" + outs[1].output;
                              })
                .build()
                .value();
  auto result = shared_runtime().run(wf, "v");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "v1+v2!");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"start", "x", "y", "join"}));
}

TEST(WorkflowRun, AFailingBranchFailsTheRunWithTheNodesError) {
  auto bad = Node::function("bad", [](const NodeContext&) -> Expected<std::string> {
    return Error{ErrorCode::invalid_argument, "no good"};
  });
  auto wf = Workflow::parallel("fan", {append("ok", ""), bad}, append("join", "")).value();
  auto result = shared_runtime().run(wf, "");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(result.error().message.find("node 'bad' (step 'bad#1'): no good"), std::string::npos) << result.error().message;
}

TEST(WorkflowRun, ANodeFunctionThatThrowsFailsTheRunInsteadOfCrashing) {
  auto wf = Workflow::chain("w", {Node::function("boom", [](std::string_view) -> std::string {
                                    throw std::runtime_error("kaboom");
                                  })})
                .value();
  auto result = shared_runtime().run(wf, "");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("kaboom"), std::string::npos);
}

TEST(WorkflowRun, ASubWorkflowNodeNestsItsStepsUnderTheNodesStep) {
  auto inner = Workflow::chain("inner", {append("x", "x"), append("y", "y")}).value();
  auto outer = Workflow::chain("outer", {append("a", "a"), Node::workflow("sub", inner), append("b", "b")}).value();
  auto result = shared_runtime().run(outer, "");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "axyb");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"a", "sub", "b"}));
  std::vector<std::string> steps;
  for (const auto& t : result->trace) steps.push_back(t.step_name);
  EXPECT_EQ(steps, (std::vector<std::string>{"a#1", "sub#1/x#1", "sub#1/y#1", "sub#1", "b#1"}));
}

TEST(WorkflowRun, RunsCarryTheirUserAndSessionIntoEveryNode) {
  auto seen = Node::function("seen", [](const NodeContext& ctx) -> Expected<std::string> {
    return ctx.user_id.str() + "/" + ctx.session_id.str() + "/" + std::string(ctx.step_name);
  });
  auto wf = Workflow::chain("w", {seen}).value();
  auto result = shared_runtime().run(wf, "", {.user_id = UserId{"alice"}, .session_id = SessionId{"s1"}});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->output, "alice/s1/seen#1");
  EXPECT_EQ(result->user_id.str(), "alice");
  EXPECT_EQ(result->session_id.str(), "s1");
}

TEST(WorkflowRun, ARunWithoutASessionGetsAFreshUniqueOne) {
  auto wf = Workflow::chain("w", {append("a", "")}).value();
  auto first = shared_runtime().run(wf, "");
  auto second = shared_runtime().run(wf, "");
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(first->session_id.empty());
  EXPECT_NE(first->session_id, second->session_id);
}

TEST(WorkflowRun, ManyRunsOfOneWorkflowProceedAtOnceWithoutMixingState) {
  auto inc = [](std::string name) {
    return Node::function(name, [](std::string_view in) { return std::to_string(std::stoi(std::string(in)) + 1); });
  };
  auto wf = Workflow::chain("ten", {inc("n0"), inc("n1"), inc("n2"), inc("n3"), inc("n4")}).value();
  std::vector<RunHandle> handles;
  for (int i = 0; i < 500; ++i) handles.push_back(shared_runtime().start(wf, std::to_string(i)));
  for (int i = 0; i < 500; ++i) {
    auto r = handles[static_cast<std::size_t>(i)].wait();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->output, std::to_string(i + 5));
  }
}

TEST(WorkflowRun, CancellingARunEndsItWithACancelledError) {
  auto gate = std::make_shared<Rendezvous>(2);
  auto wait_node = Node::function(
      "wait", [gate](std::string_view) { gate->arrive_and_wait(); return std::string("late"); },
      NodeOptions{.blocking = true});
  auto wf = Workflow::chain("slow", {wait_node, append("after", "")}).value();
  auto handle = shared_runtime().start(wf, "");
  handle.cancel();
  auto result = handle.wait();
  gate->arrive_and_wait();  // release the node
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::cancelled);
}

TEST(WorkflowRun, ARunPastItsTimeoutFailsWithDeadlineExceeded) {
  auto gate = std::make_shared<Rendezvous>(2);
  auto wait_node = Node::function(
      "wait", [gate](std::string_view) { gate->arrive_and_wait(); return std::string("late"); },
      NodeOptions{.blocking = true});
  auto wf = Workflow::chain("slow", {wait_node}).value();
  auto result = shared_runtime().run(wf, "", {.timeout = std::chrono::milliseconds(20)});
  gate->arrive_and_wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::deadline_exceeded);
}
