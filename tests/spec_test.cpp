// The declarative spec loader: what loads, what each mistake is reported as, and agreement between
// the loader and spec.schema.json.
#include "loomflow/spec.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/json_schema.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/builtin.hpp"

namespace loomflow {
namespace {

const std::string kSourceDir = LOOMFLOW_SOURCE_DIR;
const std::string kSupportPath = kSourceDir + "/tools_cli/examples/support.json";

SpecEnvironment test_env() {
  SpecEnvironment env;
  env.make_model = providers::builtin_model;
  env.functions = tools::builtin_functions();
  env.tools = tools::builtin_tools();
  return env;
}

Expected<LoadedSpec> load(std::string_view text) { return load_spec_text(text, "<inline>", test_env()); }

// The error message of loading `text`, or "loaded" when it loads.
std::string error_of(std::string_view text) {
  auto spec = load(text);
  if (spec) return "loaded";
  EXPECT_EQ(spec.error().code, ErrorCode::invalid_spec) << spec.error().message;
  return spec.error().message;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json spec_schema() {
  return nlohmann::json::parse(read_file(kSourceDir + "/runtime/loomflow/spec.schema.json"));
}

// Runs a function node of a loaded workflow on `input`.
std::string run_node(const Workflow& workflow, const std::string& node, std::string_view input) {
  const auto& wf = workflow.impl();
  const auto& impl = *wf.nodes.at(static_cast<std::size_t>(wf.index.at(node)));
  EXPECT_EQ(impl.kind, detail::NodeImpl::Kind::function);
  UserId user{"u1"};
  SessionId session{"s1"};
  NodeContext ctx{input, user, session, node + "#1"};
  auto out = impl.fn(ctx);
  return out ? *out : "error: " + out.error().message;
}

std::vector<std::string> node_names(const Workflow& workflow) {
  std::vector<std::string> names;
  for (const auto& node : workflow.impl().nodes) names.push_back(node->name);
  return names;
}

// ---- Valid specs (each is also checked against the schema) -----------------------------------------

constexpr std::string_view kClassifierSpec = R"json({
  "loomflow": 1,
  "name": "classify_only",
  "workflow": {
    "nodes": {
      "classify": {
        "type": "keyword_classifier",
        "labels": {"billing": ["charge", "refund"], "tech": ["crash", "error"], "late": ["refund"]},
        "default": "general"
      }
    }
  }
})json";

constexpr std::string_view kTemplateSpec = R"json({
  "loomflow": 1,
  "name": "letters",
  "description": "Wraps the input in a letter.",
  "workflow": {
    "nodes": {
      "shout": {"type": "function", "function": "uppercase"},
      "letter": {"type": "template", "template": "Dear customer: {input}. Again: {input}"}
    },
    "edges": [{"from": "shout", "to": "letter"}, {"from": "letter", "to": "__end__"}]
  }
})json";

constexpr std::string_view kParallelSpec = R"json({
  "loomflow": 1,
  "name": "fan_out",
  "workflow": {
    "max_visits_per_node": 3,
    "nodes": {
      "upper": {"type": "function", "function": "uppercase"},
      "count": {"type": "function", "function": "word_count"},
      "report": {"type": "template", "template": "report: {input}"}
    },
    "parallel": [{"from": "__start__", "branches": ["upper", "count"], "join": "report"}]
  }
})json";

constexpr std::string_view kSubWorkflowSpec = R"json({
  "loomflow": 1,
  "name": "outer",
  "agents": {
    "helper": {"model": "echo", "tools": ["word_count", "workflow:polish"], "max_turns": 3}
  },
  "workflows": {
    "wrapped": {
      "entry": "inner",
      "nodes": {"inner": {"type": "workflow", "workflow": "polish"}}
    },
    "polish": {
      "description": "Trims and upper-cases a text.",
      "nodes": {"trim": {"type": "function", "function": "trim"}, "upper": {"type": "function", "function": "uppercase"}},
      "edges": [{"from": "trim", "to": "upper"}]
    }
  },
  "workflow": {
    "entry": "first",
    "nodes": {
      "ask": {"type": "agent", "agent": "helper"},
      "first": {"type": "workflow", "workflow": "wrapped"}
    },
    "routers": [{"from": "first", "routes": {"HELP": "ask", "done": "__end__"}}]
  }
})json";

// ---- Loading -----------------------------------------------------------------------------------------

TEST(SpecLoader, LoadsTheSupportExample) {
  auto spec = load_spec_text(read_file(kSupportPath), "support.json", test_env());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "support");
  EXPECT_NE(spec->description.find("keyword classifier"), std::string::npos);
  EXPECT_EQ(spec->workflow.name(), "support");
  EXPECT_EQ(node_names(spec->workflow),
            (std::vector<std::string>{"classify", "route_billing", "route_tech", "route_general"}));
  const auto& wf = spec->workflow.impl();
  EXPECT_EQ(wf.start.to, "classify");
  EXPECT_EQ(wf.max_visits_per_node, 5);
  ASSERT_EQ(spec->agents.size(), 3u);
  EXPECT_EQ(spec->agents.at("billing").options().max_turns, 4);
  EXPECT_EQ(spec->agents.at("billing").options().tools.size(), 1u);
  EXPECT_EQ(spec->agents.at("general").options().max_turns, 10);
  ASSERT_EQ(spec->models.size(), 3u);
  EXPECT_EQ(spec->models[0].first, "billing");
  EXPECT_EQ(spec->models[0].second.provider->name(), "scripted");
  EXPECT_EQ(spec->models[1].second.provider->name(), "echo");
  EXPECT_NE(to_mermaid(spec->workflow).find("route_billing"), std::string::npos);
}

TEST(SpecLoader, LoadsAFile) {
  auto spec = load_spec_file(kSupportPath, test_env());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->workflow.impl().nodes.size(), 4u);
}

TEST(SpecLoader, NamesTheFileInItsErrors) {
  const std::string path = testing::TempDir() + "spec_test_bad.json";
  std::ofstream(path) << R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {}}})";
  auto spec = load_spec_file(path, test_env());
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().message, path + ": $.workflow.nodes: a workflow needs at least one node");
  std::remove(path.c_str());
}

TEST(SpecLoader, ReportsAnUnreadableFileWithItsPathAndReason) {
  const std::string path = kSourceDir + "/no/such/spec.json";
  auto spec = load_spec_file(path, test_env());
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, ErrorCode::invalid_spec);
  EXPECT_EQ(spec.error().message, path + ": cannot read the spec file: No such file or directory");
  auto directory = load_spec_file(kSourceDir, test_env());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().message, kSourceDir + ": cannot read the spec file: Is a directory");
}

TEST(SpecLoader, DefaultsTheEntryToTheFirstNodeListed) {
  auto spec = load(kTemplateSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->workflow.impl().start.to, "shout");
  EXPECT_EQ(spec->workflow.impl().max_visits_per_node, Workflow::kDefaultMaxVisitsPerNode);
}

TEST(SpecLoader, KeywordClassifierMatchesWholeWordsCaseInsensitively) {
  auto spec = load(kClassifierSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(run_node(spec->workflow, "classify", "Why did you CHARGE me?"), "billing");
  EXPECT_EQ(run_node(spec->workflow, "classify", "The app crashed"), "general");  // "crashed" is not "crash"
  EXPECT_EQ(run_node(spec->workflow, "classify", "an error: (crash)"), "tech");
  EXPECT_EQ(run_node(spec->workflow, "classify", "I was charged twice"), "general");
}

TEST(SpecLoader, KeywordClassifierPicksTheFirstLabelInListedOrder) {
  auto spec = load(kClassifierSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  // The first label in listed order wins, not the first keyword in the text: "crash" (tech) comes
  // first in the text, but "billing" is listed first and "refund" is one of its keywords.
  EXPECT_EQ(run_node(spec->workflow, "classify", "crash, then a refund"), "billing");
}

TEST(SpecLoader, TemplateNodeReplacesEveryInputPlaceholder) {
  auto spec = load(kTemplateSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(run_node(spec->workflow, "letter", "hi {input}"), "Dear customer: hi {input}. Again: hi {input}");
  EXPECT_EQ(run_node(spec->workflow, "shout", "hi"), "HI");
}

TEST(SpecLoader, LoadsAParallelGroupFromTheStart) {
  auto spec = load(kParallelSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  const auto& start = spec->workflow.impl().start;
  EXPECT_EQ(start.kind, detail::Successor::Kind::parallel);
  EXPECT_EQ(start.branches, (std::vector<std::string>{"upper", "count"}));
  EXPECT_EQ(start.join, "report");
  ASSERT_TRUE(start.merge);
  auto merged = start.merge({{"upper", "A"}, {"count", "1"}});
  ASSERT_TRUE(merged);
  EXPECT_EQ(*merged, R"({"upper":"A","count":"1"})");
}

TEST(SpecLoader, LoadsASubWorkflowAsANode) {
  auto spec = load(kSubWorkflowSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_EQ(spec->workflows.size(), 2u);
  // "wrapped" is listed before the "polish" it uses: building follows dependencies, not listing order.
  const auto& first = *spec->workflow.impl().nodes.at(1);
  ASSERT_EQ(first.kind, detail::NodeImpl::Kind::workflow);
  EXPECT_EQ(first.workflow->name, "wrapped");
  EXPECT_EQ(first.workflow, spec->workflows.at("wrapped").shared_impl());
  EXPECT_EQ(first.workflow->nodes.at(0)->workflow, spec->workflows.at("polish").shared_impl());
  EXPECT_EQ(spec->workflow.impl().start.to, "first");
}

TEST(SpecLoader, OffersASubWorkflowAsAnAgentTool) {
  auto spec = load(kSubWorkflowSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  const auto& tools = spec->agents.at("helper").options().tools;
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0].name(), "word_count");
  EXPECT_EQ(tools[1].name(), "polish");
  EXPECT_EQ(tools[1].spec().description, "Trims and upper-cases a text.");
  EXPECT_EQ(tools[1].impl().kind, detail::ToolImpl::Kind::workflow);
  EXPECT_EQ(tools[1].impl().workflow, spec->workflows.at("polish").shared_impl());
}

// ---- Errors, one per class ------------------------------------------------------------------------------

TEST(SpecLoader, ReportsMalformedJsonWithLineAndColumn) {
  std::string message = error_of("{\n  \"loomflow\": 1,\n  \"name\": }\n");
  EXPECT_EQ(message.rfind("<inline>:3:11: malformed JSON: syntax error while parsing value - unexpected '}'", 0), 0u)
      << message;
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

TEST(SpecLoader, KeepsAMalformedJsonMessageValidUtf8) {
  // nlohmann quotes the bytes it last read; an invalid one must not make the message unprintable as JSON.
  std::string message = error_of("{\"name\": \"x\xff\"}");
  EXPECT_EQ(message.rfind("<inline>:1:12: malformed JSON: ", 0), 0u) << message;
  EXPECT_NO_THROW((void)nlohmann::json(message).dump()) << message;
}

TEST(SpecLoader, ReportsAnEmptyDocumentAsMalformedJson) {
  EXPECT_EQ(error_of("").rfind("<inline>:1:1: malformed JSON: ", 0), 0u) << error_of("");
}

TEST(SpecLoader, RejectsAMissingVersion) {
  EXPECT_EQ(error_of(R"({"name": "x", "workflow": {"nodes": {"a": {"type": "template", "template": ""}}}})"),
            "<inline>: $: missing required field \"loomflow\"");
}

TEST(SpecLoader, RejectsAnUnsupportedVersion) {
  EXPECT_EQ(error_of(R"({"loomflow": 2, "name": "x", "future_field": true})"),
            "<inline>: $.loomflow: unsupported format version 2 (this loader reads version 1)");
  EXPECT_EQ(error_of(R"({"loomflow": "1", "name": "x"})"),
            "<inline>: $.loomflow: expected integer 1 (the format version), got string \"1\"");
}

constexpr std::string_view kTypoSpec = R"json({
  "loomflow": 1, "name": "support",
  "agents": {"billing": {"model": "echo", "instrctions": "Help."}},
  "workflow": {"nodes": {"a": {"type": "agent", "agent": "billing"}}}
})json";

TEST(SpecLoader, RejectsAnUnknownField) {
  EXPECT_EQ(error_of(kTypoSpec),
            "<inline>: $.agents.billing.instrctions: unknown field (did you mean \"instructions\"?)");
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "x", "workflow": {"nodes": {"a": {"type": "template", "template": "",
                         "colour": "red"}}}})"),
            "<inline>: $.workflow.nodes.a.colour: unknown field");
}

constexpr std::string_view kWrongTypeSpec = R"json({
  "loomflow": 1, "name": "support",
  "agents": {"billing": {"model": "echo", "max_turns": "3"}},
  "workflow": {"nodes": {"a": {"type": "agent", "agent": "billing"}}}
})json";

TEST(SpecLoader, RejectsAWrongTypeNamingExpectedAndActual) {
  EXPECT_EQ(error_of(kWrongTypeSpec), "<inline>: $.agents.billing.max_turns: expected integer >= 1, got string \"3\"");
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "x", "workflow": []})"),
            "<inline>: $.workflow: expected object, got array");
}

constexpr std::string_view kUnknownTypeSpec = R"json({
  "loomflow": 1, "name": "x",
  "workflow": {"nodes": {"x": {"type": "foo"}}}
})json";

TEST(SpecLoader, RejectsAnUnknownNodeType) {
  EXPECT_EQ(error_of(kUnknownTypeSpec),
            "<inline>: $.workflow.nodes.x.type: unknown node type \"foo\" (expected agent, workflow, function, "
            "keyword_classifier, template, remote)");
}

TEST(SpecLoader, RejectsAnUnknownAgent) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "support",
                         "agents": {"billing": {"model": "echo"}, "tech": {"model": "echo"}},
                         "workflow": {"nodes": {"route_x": {"type": "agent", "agent": "x"}}}})"),
            "<inline>: $.workflow.nodes.route_x.agent: unknown agent 'x' (known: billing, tech)");
}

TEST(SpecLoader, RejectsAnEdgeToNowhere) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "support", "workflow": {
                         "nodes": {"a": {"type": "function", "function": "trim"}, "b": {"type": "function", "function": "trim"}},
                         "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "nowhere"}]}})"),
            "<inline>: $.workflow.edges[1].to: edge target 'nowhere' is not a node of workflow 'support'");
}

TEST(SpecLoader, RejectsARouterLabelWithoutTarget) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "support", "workflow": {
                         "nodes": {"a": {"type": "function", "function": "trim"}, "b": {"type": "function", "function": "trim"}},
                         "routers": [{"from": "a", "routes": {"billing": "b", "refund": ""}}]}})"),
            "<inline>: $.workflow.routers[0].routes.refund: router label 'refund' has no target");
}

constexpr std::string_view kUnreachableSpec = R"json({
  "loomflow": 1, "name": "support",
  "workflow": {
    "entry": "classify",
    "nodes": {
      "orphan": {"type": "function", "function": "trim"},
      "classify": {"type": "keyword_classifier", "labels": {"a": ["a"]}, "default": "b"}
    }
  }
})json";

TEST(SpecLoader, RejectsAnUnreachableNode) {
  EXPECT_EQ(error_of(kUnreachableSpec),
            "<inline>: $.workflow.nodes.orphan: node 'orphan' is unreachable from the entry 'classify'");
}

TEST(SpecLoader, RejectsTwoSuccessorsOfOneNode) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w", "workflow": {
                         "nodes": {"a": {"type": "function", "function": "trim"}, "b": {"type": "function", "function": "trim"}},
                         "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "__end__"}]}})"),
            "<inline>: $.workflow.edges[1].from: node 'a' already has a successor ($.workflow.edges[0]); a node has "
            "one edge, one router or one parallel group");
}

TEST(SpecLoader, PointsAGraphProblemOfTheBuilderAtItsElement) {
  // A branch with a successor of its own is found by WorkflowBuilder::problems(), then located.
  std::string message = error_of(R"({"loomflow": 1, "name": "w", "workflow": {
      "nodes": {"a": {"type": "function", "function": "trim"}, "b": {"type": "function", "function": "trim"},
                "c": {"type": "function", "function": "trim"}},
      "parallel": [{"from": "a", "branches": ["b"], "join": "c"}],
      "edges": [{"from": "b", "to": "c"}]}})");
  EXPECT_EQ(message.rfind("<inline>: $.workflow.parallel[0].branches[0]: ", 0), 0u) << message;
  EXPECT_NE(message.find("has a successor of its own"), std::string::npos) << message;
}

TEST(SpecLoader, RejectsAnUnknownFunction) {
  EXPECT_EQ(
      error_of(
          R"({"loomflow": 1, "name": "w", "workflow": {"nodes": {"a": {"type": "function", "function": "shout"}}}})"),
      "<inline>: $.workflow.nodes.a.function: unknown function 'shout' (known: identity, lowercase, trim, "
      "uppercase, word_count)");
}

TEST(SpecLoader, RejectsAnUnknownTool) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w", "agents": {"bot": {"model": "echo", "tools": ["add", "search"]}},
                         "workflow": {"nodes": {"a": {"type": "agent", "agent": "bot"}}}})"),
            "<inline>: $.agents.bot.tools[1]: unknown tool 'search' (known: add, wait, word_count); a sub-workflow is "
            "\"workflow:<name>\"");
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w", "agents": {"bot": {"model": "echo", "tools": ["workflow:nope"]}},
                         "workflow": {"nodes": {"a": {"type": "agent", "agent": "bot"}}}})"),
            "<inline>: $.agents.bot.tools[0]: unknown sub-workflow 'nope' (no sub-workflows are defined)");
}

TEST(SpecLoader, RejectsASubWorkflowCycle) {
  EXPECT_EQ(
      error_of(R"({"loomflow": 1, "name": "w",
                         "workflows": {"a": {"nodes": {"to_b": {"type": "workflow", "workflow": "b"}}},
                                       "b": {"nodes": {"to_a": {"type": "workflow", "workflow": "a"}}}},
                         "workflow": {"nodes": {"start": {"type": "workflow", "workflow": "a"}}}})"),
      "<inline>: $.workflows.b.nodes.to_a.workflow: sub-workflow cycle: workflow 'a' -> workflow 'b' -> workflow 'a'");
}

TEST(SpecLoader, RejectsACycleThroughAnAgentsWorkflowTool) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w",
                         "agents": {"bot": {"model": "echo", "tools": ["workflow:a"]}},
                         "workflows": {"a": {"nodes": {"ask": {"type": "agent", "agent": "bot"}}}},
                         "workflow": {"nodes": {"start": {"type": "workflow", "workflow": "a"}}}})"),
            "<inline>: $.agents.bot.tools[0]: sub-workflow cycle: workflow 'a' -> agent 'bot' -> workflow 'a'");
}

constexpr std::string_view kNoDefaultSpec = R"json({
  "loomflow": 1, "name": "w",
  "workflow": {"nodes": {"classify": {"type": "keyword_classifier", "labels": {"billing": ["charge"]}}}}
})json";

TEST(SpecLoader, RejectsAKeywordClassifierWithoutDefault) {
  EXPECT_EQ(error_of(kNoDefaultSpec), "<inline>: $.workflow.nodes.classify: missing required field \"default\"");
}

constexpr std::string_view kZeroVisitsSpec = R"json({
  "loomflow": 1, "name": "w",
  "workflow": {"max_visits_per_node": 0, "nodes": {"a": {"type": "function", "function": "trim"}}}
})json";

TEST(SpecLoader, RejectsMaxVisitsOfZero) {
  EXPECT_EQ(error_of(kZeroVisitsSpec),
            "<inline>: $.workflow.max_visits_per_node: expected integer >= 1, got integer 0");
}

TEST(SpecLoader, KeepsTheModelResolversErrorAtTheAgentsPath) {
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w", "agents": {"bot": {"model": "gpt-9"}},
                         "workflow": {"nodes": {"a": {"type": "agent", "agent": "bot"}}}})"),
            "<inline>: $.agents.bot.model: unknown model \"gpt-9\" (built-in models: \"echo\", \"scripted\")");
}

TEST(SpecLoader, PointsIntoAnInvalidOutputSchema) {
  std::string message = error_of(R"({"loomflow": 1, "name": "w",
      "agents": {"bot": {"model": "echo", "output_schema": {"type": "object", "properties": {"n": {"minimum": "one"}}}}},
      "workflow": {"nodes": {"a": {"type": "agent", "agent": "bot"}}}})");
  EXPECT_EQ(message.rfind("<inline>: $.agents.bot.output_schema.properties.n.minimum: invalid JSON Schema: ", 0), 0u)
      << message;
}

TEST(SpecLoader, RefusesADocumentNestedTooDeeply) {
  // nlohmann converts and dumps recursively; the loader must not hand it a stack-overflowing value.
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  std::string message = error_of(R"({"loomflow": 1, "name": "w", "agents": {"bot": {"model": "echo",
      "output_schema": {"default": )" + deep + R"(}}}, "workflow": {"nodes": {"a": {"type": "agent", "agent": "bot"}}}})");
  EXPECT_EQ(message.rfind("<inline>: $.agents.bot.output_schema.default[0][0]", 0), 0u) << message;
  EXPECT_NE(message.find(": nested deeper than 256 levels"), std::string::npos) << message;
}

TEST(SpecLoader, ReportsOnlyTheFirstProblemInDocumentOrder) {
  // Agents come before workflows, so the agent's typo wins over the workflow's unknown agent.
  EXPECT_EQ(error_of(R"({"loomflow": 1, "name": "w",
                         "workflow": {"nodes": {"a": {"type": "agent", "agent": "missing"}}},
                         "agents": {"bot": {"model": "echo", "max_turn": 2}}})"),
            "<inline>: $.agents.bot.max_turn: unknown field (did you mean \"max_turns\"?)");
}

// ---- Loader and schema agree ---------------------------------------------------------------------------

TEST(SpecSchema, IsAUsableSchema) {
  auto problem = check_schema(spec_schema());
  EXPECT_FALSE(problem) << problem->to_string();
}

TEST(SpecSchema, AcceptsTheSupportExampleAndEveryValidSpecOfTheseTests) {
  const auto schema = spec_schema();
  std::vector<std::string> valid = {read_file(kSupportPath), std::string(kClassifierSpec), std::string(kTemplateSpec),
                                    std::string(kParallelSpec), std::string(kSubWorkflowSpec)};
  for (const auto& text : valid) {
    ASSERT_TRUE(load(text)) << text;
    auto violation = validate_json(schema, nlohmann::json::parse(text));
    EXPECT_FALSE(violation) << violation->to_string() << "\n" << text;
  }
}

TEST(SpecSchema, RejectsWhatTheLoaderRejectsStructurally) {
  const auto schema = spec_schema();
  std::vector<std::string_view> invalid = {
      kTypoSpec,      kWrongTypeSpec,  kUnknownTypeSpec,
      kNoDefaultSpec, kZeroVisitsSpec, R"({"loomflow": 2, "name": "x", "workflow": {"nodes": {}}})"};
  for (auto text : invalid) {
    EXPECT_FALSE(load(text)) << text;
    EXPECT_TRUE(validate_json(schema, nlohmann::json::parse(text))) << text;
  }
}

TEST(SpecLoader, KeepsTheJournalUriOfTheSpec) {
  auto spec = load(R"json({"loomflow": 1, "name": "w", "journal": "sqlite:runs.db",
                           "workflow": {"nodes": {"a": {"type": "template", "template": "{input}"}}}})json");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->journal, "sqlite:runs.db");
}

TEST(SpecLoader, RefusesAJournalThatIsNotAJournalUri) {
  EXPECT_EQ(error_of(R"json({"loomflow": 1, "name": "w", "journal": "mongodb://x",
                             "workflow": {"nodes": {"a": {"type": "template", "template": "{input}"}}}})json"),
            "<inline>: $.journal: expected a journal URI: rocksdb:PATH, sqlite:PATH, postgres://... or memory:");
}

}  // namespace
}  // namespace loomflow
