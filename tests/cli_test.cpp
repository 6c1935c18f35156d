// The `loomflow` program: exit codes, human and --json output, spec errors, graph, version, help.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "scratch.hpp"

namespace {

using Outcome = loomflow::testing::CliOutcome;
using loomflow::testing::execute;

Outcome cli(const std::vector<std::string>& args) { return execute(LOOMFLOW_CLI, args); }

const std::string kSupport = std::string(LOOMFLOW_SOURCE_DIR) + "/tools_cli/examples/support.json";

// Writes a spec to a temporary file and returns its path.
std::string spec_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("loomflow-" + std::to_string(::getpid()) + "-" + name + ".json");
  std::ofstream(path) << text;
  return path.string();
}

const char* kMinimalWorkflow = R"("workflow": {"nodes": {"a": {"type": "template", "template": "<{input}>"}}})";

}  // namespace

TEST(Cli, VersionPrintsTheVersionAndSucceeds) {
  auto r = cli({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("loomflow 0.1.0"), std::string::npos) << r.out;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"run", "graph", "bench"}) {
    auto r = cli({sub, "--help"});
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
}

TEST(Cli, TheSupportExampleRoutesADoubleChargeToBilling) {
  auto r = cli({"run", kSupport, "--input", "My card was charged twice.", "--user", "alice"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("double charge"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("visited: classify → route_billing"), std::string::npos) << r.out;
}

TEST(Cli, TheSupportExampleRoutesATechQuestionToTech) {
  auto r = cli({"run", kSupport, "--input", "The app shows an error at login", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["visited"], nlohmann::json::array({"classify", "route_tech"}));
  EXPECT_EQ(j["output"], "tech");  // the echo model repeats its input: the classifier's label
}

TEST(Cli, JsonOutputCarriesOutputVisitedUsageUserAndSession) {
  auto r = cli({"run", kSupport, "--input", "My card was charged twice.", "--user", "alice", "--session", "s-42", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["visited"], nlohmann::json::array({"classify", "route_billing"}));
  EXPECT_EQ(j["user_id"], "alice");
  EXPECT_EQ(j["session_id"], "s-42");
  EXPECT_EQ(j["usage"]["model_calls"], 2);
  EXPECT_EQ(j["usage"]["tool_calls"], 1);
  EXPECT_GT(j["usage"]["total_tokens"].get<int>(), 0);
  EXPECT_TRUE(j["output"].get<std::string>().find("refund") != std::string::npos);
  bool has_tool_step = false;
  for (const auto& step : j["trace"]) has_tool_step |= step["step"] == "route_billing#1/turn-1/tool-0";
  EXPECT_TRUE(has_tool_step) << j["trace"].dump();
}

TEST(Cli, GraphPrintsAMermaidFlowchart) {
  auto r = cli({"graph", kSupport});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("flowchart TD", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("n_classify -- \"billing\" --> n_route_billing"), std::string::npos) << r.out;
}

TEST(Cli, MalformedJsonExitsWithStatusTwoNamingFileLineAndColumn) {
  auto path = spec_file("malformed", "{\n  \"loomflow\": 1,\n  \"name\": \n}");
  auto r = cli({"run", path, "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(path + ":4:1: malformed JSON"), std::string::npos) << r.err;
}

TEST(Cli, AnEdgeToNowhereExitsWithStatusTwoNamingTheJsonPath) {
  auto path = spec_file("edge", R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {"a": {"type": "template", "template": "x"}},
    "edges": [{"from": "a", "to": "nowhere"}]}})");
  auto r = cli({"run", path, "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(path + ": $.workflow.edges[0].to"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
}

TEST(Cli, AnUnknownNodeInARouterExitsWithStatusTwo) {
  auto path = spec_file("router", R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {"a": {"type": "template", "template": "x"}},
    "routers": [{"from": "a", "routes": {"x": "ghost"}}]}})");
  auto r = cli({"graph", path});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("$.workflow.routers[0].routes.x"), std::string::npos) << r.err;
}

TEST(Cli, ARouterLabelWithoutTargetExitsWithStatusTwo) {
  auto path = spec_file("label", R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {"a": {"type": "template", "template": "x"}},
    "routers": [{"from": "a", "routes": {"x": ""}}]}})");
  auto r = cli({"run", path, "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("$.workflow.routers[0].routes.x"), std::string::npos) << r.err;
}

TEST(Cli, AnUnreachableNodeExitsWithStatusTwo) {
  auto path = spec_file("unreachable", R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {
    "a": {"type": "template", "template": "x"}, "orphan": {"type": "template", "template": "y"}}}})");
  auto r = cli({"run", path, "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("$.workflow.nodes.orphan"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unreachable"), std::string::npos) << r.err;
}

TEST(Cli, AWrongTypeExitsWithStatusTwoNamingExpectedAndActual) {
  auto path = spec_file("type", std::string(R"({"loomflow": 1, "name": "w", "agents": {"x": {"model": "echo", "max_turns": "3"}}, )") +
                                    kMinimalWorkflow + "}");
  auto r = cli({"run", path, "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("$.agents.x.max_turns"), std::string::npos) << r.err;
}

TEST(Cli, AMissingSpecFileExitsWithStatusTwo) {
  auto r = cli({"run", "/nonexistent/spec.json", "--input", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent/spec.json"), std::string::npos) << r.err;
}

TEST(Cli, AMissingRequiredOptionExitsWithStatusTwo) {
  auto r = cli({"run", kSupport});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--input"), std::string::npos) << r.err;
}

TEST(Cli, AnUnknownRouteLabelAtRunTimeExitsWithStatusOneNamingTheLabels) {
  auto path = spec_file("runtime-label", R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {
      "a": {"type": "template", "template": "refund"}, "b": {"type": "template", "template": "b"}},
    "routers": [{"from": "a", "routes": {"billing": "b"}}]}})");
  auto r = cli({"run", path, "--input", "x", "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown label 'refund' (known labels: billing)"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["error"]["code"], "unknown_route_label");
}

TEST(Cli, BenchRejectsAnUnknownWorkload) {
  auto r = cli({"bench", "--workload", "W99"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("W99"), std::string::npos) << r.err;
}

TEST(Cli, BenchJsonPrintsOneLinePerWorkloadWithItsMetricAndTarget) {
  // T3 needs an MCP server and T4 builds a 100k-vector index: they have tests of their own.
  auto r = cli({"bench", "--json", "-w", "W1,W1-200nodes,W2,W3,W4,W5,W6,P1,T1,T2"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  std::map<std::string, std::string> metric = {{"W1", "us_per_step"}, {"W1-200nodes", "us_per_step"},
                                               {"W2", "us_per_run"},  {"W3", "us_per_iter"}, {"W4", "us_per_step"},
                                               {"W5", "us_per_turn"}, {"W6", "runs_per_sec"},
                                               {"P1", "us_per_call"}, {"T1", "us_per_call"}, {"T2", "us_per_turn"}};
  std::istringstream lines(r.out);
  std::string line;
  std::set<std::string> seen;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    const auto workload = j["workload"].get<std::string>();
    ASSERT_TRUE(metric.count(workload)) << line;
    EXPECT_TRUE(j[metric[workload]].is_number()) << line;
    EXPECT_TRUE(j["warm_" + metric[workload]].is_number()) << line;
    EXPECT_TRUE(j["target_met"].is_boolean()) << line;
    EXPECT_EQ(j["framework"], "loomflow");
    seen.insert(workload);
  }
  EXPECT_EQ(seen.size(), metric.size()) << r.out;
}

TEST(Cli, TheCppSupportExampleRoutesToBillingForAlice) {
  auto r = execute(LOOMFLOW_SUPPORT_EXAMPLE, {});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("double charge"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("visited: classify → route_billing"), std::string::npos) << r.out;
}

TEST(Cli, TheCppSupportExampleRoutesOtherQuestionsToTech) {
  auto r = execute(LOOMFLOW_SUPPORT_EXAMPLE, {"The app crashes at login"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("visited: classify → route_tech"), std::string::npos) << r.out;
}
