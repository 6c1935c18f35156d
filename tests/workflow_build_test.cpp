// Workflow validation at build time, and the Mermaid rendering.
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::append;

namespace {

std::string build_error(const WorkflowBuilder& builder) {
  auto wf = builder.build();
  EXPECT_FALSE(wf);
  return wf ? std::string() : wf.error().message;
}

RouterFn identity_router() {
  return [](std::string_view out) -> Expected<std::string> { return std::string(out); };
}

}  // namespace

TEST(WorkflowBuild, AnEdgeToAnUnknownNodeIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).add_edge("a", "nowhere"));
  EXPECT_NE(message.find("edge from 'a' goes to unknown node 'nowhere'"), std::string::npos) << message;
}

TEST(WorkflowBuild, AnEdgeFromAnUnknownNodeIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).add_edge("ghost", "a"));
  EXPECT_NE(message.find("unknown node 'ghost'"), std::string::npos) << message;
}

TEST(WorkflowBuild, AnUnreachableNodeIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).add_node(append("orphan", "")));
  EXPECT_NE(message.find("node 'orphan' is unreachable from the entry"), std::string::npos) << message;
}

TEST(WorkflowBuild, ARouterWithoutTargetsIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).add_router("a", identity_router(), {}));
  EXPECT_NE(message.find("router after 'a' has no targets"), std::string::npos) << message;
}

TEST(WorkflowBuild, ARouterLabelToAnUnknownNodeIsABuildError) {
  auto message = build_error(
      WorkflowBuilder("w").add_node(append("a", "")).add_router("a", identity_router(), {{"x", "missing"}}));
  EXPECT_NE(message.find("router label 'x' after 'a' goes to unknown node 'missing'"), std::string::npos) << message;
}

TEST(WorkflowBuild, ARouterLabelWithAnEmptyTargetIsABuildError) {
  auto message =
      build_error(WorkflowBuilder("w").add_node(append("a", "")).add_router("a", identity_router(), {{"x", ""}}));
  EXPECT_NE(message.find("router label 'x' after 'a' has no target"), std::string::npos) << message;
}

TEST(WorkflowBuild, ANodeDefinedTwiceIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).add_node(append("a", "")));
  EXPECT_NE(message.find("node 'a' is defined twice"), std::string::npos) << message;
}

TEST(WorkflowBuild, ANodeWithTwoSuccessorsIsABuildError) {
  auto message = build_error(WorkflowBuilder("w")
                                 .add_node(append("a", ""))
                                 .add_node(append("b", ""))
                                 .add_edge("a", "b")
                                 .add_router("a", identity_router(), {{"x", "b"}}));
  EXPECT_NE(message.find("node 'a' already has a successor"), std::string::npos) << message;
}

TEST(WorkflowBuild, AnEmptyWorkflowIsABuildError) {
  EXPECT_NE(build_error(WorkflowBuilder("w")).find("has no nodes"), std::string::npos);
}

TEST(WorkflowBuild, AVisitCapBelowOneIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a", "")).max_visits_per_node(0));
  EXPECT_NE(message.find("max_visits_per_node must be at least 1"), std::string::npos) << message;
}

TEST(WorkflowBuild, AnInvalidNodeNameIsABuildError) {
  auto message = build_error(WorkflowBuilder("w").add_node(append("a/b", "")));
  EXPECT_NE(message.find("invalid name"), std::string::npos) << message;
}

TEST(WorkflowBuild, AParallelBranchWithItsOwnSuccessorIsABuildError) {
  auto message = build_error(WorkflowBuilder("w")
                                 .add_node(append("s", ""))
                                 .add_node(append("b1", ""))
                                 .add_node(append("j", ""))
                                 .add_edge("b1", "j")
                                 .add_parallel("s", {"b1"}, "j"));
  EXPECT_NE(message.find("branch 'b1'"), std::string::npos) << message;
}

TEST(WorkflowBuild, AParallelGroupWithAnUnknownJoinIsABuildError) {
  auto message = build_error(
      WorkflowBuilder("w").add_node(append("s", "")).add_node(append("b1", "")).add_parallel("s", {"b1"}, "nojoin"));
  EXPECT_NE(message.find("joins at unknown node 'nojoin'"), std::string::npos) << message;
}

TEST(WorkflowBuild, ProblemsListsEveryProblemWithItsSubject) {
  WorkflowBuilder builder("w");
  builder.add_node(append("a", "")).add_node(append("orphan", "")).add_edge("a", "nowhere");
  auto problems = builder.problems();
  ASSERT_EQ(problems.size(), 1u);  // reachability is only judged once every target exists
  EXPECT_EQ(problems[0].where, GraphProblem::Where::edge);
  EXPECT_EQ(problems[0].subject, "a");
  EXPECT_EQ(problems[0].target, "nowhere");
}

TEST(WorkflowBuild, TheEntryDefaultsToTheFirstNodeAndCanBeSetExplicitly) {
  auto wf = WorkflowBuilder("w")
                .add_node(append("a", "a"))
                .add_node(append("b", "b"))
                .add_edge("b", "a")
                .set_entry("b")
                .build();
  ASSERT_TRUE(wf) << wf.error().describe();
  auto result = loomflow::testing::shared_runtime().run(*wf, "");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->output, "ba");
}

TEST(WorkflowBuild, MermaidShowsNodesEdgesAndRouteLabels) {
  auto wf = Workflow::route("support", append("classify", ""), {{"billing", append("b", "")}, {"tech", append("t", "")}})
                .value();
  auto chart = to_mermaid(wf);
  EXPECT_EQ(chart.rfind("flowchart TD\n", 0), 0u);
  EXPECT_NE(chart.find("__start__ --> n_classify"), std::string::npos) << chart;
  EXPECT_NE(chart.find("n_classify -- \"billing\" --> n_route_billing"), std::string::npos) << chart;
  EXPECT_NE(chart.find("n_route_tech --> __end__"), std::string::npos) << chart;
}
