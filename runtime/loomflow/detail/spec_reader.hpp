// loomflow/detail/spec_reader.hpp — the insides of the spec loader (spec.hpp), shared by spec.cpp
// (top level, agents, reference cycles, building), spec_workflow.cpp (workflows and their graphs)
// and spec_reader.cpp (JSON paths and typed field readers). Not user API.
//
// Errors made here carry "<json path>: <problem>" with code invalid_spec; load_spec_text prefixes
// the origin. Pure functions over the parsed document. Thread-safety: no shared state.
#pragma once

#include "loomflow/detail/json_path.hpp"

#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/spec.hpp"

namespace loomflow::detail::spec {

using ojson = nlohmann::ordered_json;  // keeps document order: the default entry is the first node

// ---- Paths, descriptions, errors ----------------------------------------------------------------

Error fail(const std::string& path, const std::string& problem);
// Turns a callee's error into a spec error at `path`, unless its message already starts with a path.
Error at_path(const Error& error, const std::string& path);

std::string dump(const ojson& j);  // never throws, even on invalid UTF-8
// Same path syntax as validate_json: `.key` for identifiers, `["odd key"]` otherwise.
// JSON paths: see json_path.hpp.
inline std::string key_path(const std::string& base, const std::string& key) { return json_key_path(base, key); }
inline std::string index_path(const std::string& base, std::size_t i) { return json_index_path(base, i); }
std::string in_quotes(std::string_view s);  // 'name'
// The value's JSON Schema type ("integer" for 3.0, as validate_json sees it) and, when short, the
// value itself: `string "3"`, `integer 0`, `array`.
std::string describe(const ojson& j);
bool is_integral(const ojson& j);
// "(known: a, b)", or "(<none>)" for an empty list.
std::string listing(const std::vector<std::string>& names, std::string_view none);
// Position of `name` in `names`.
std::optional<std::size_t> find_name(const std::vector<std::string>& names, const std::string& name);

// ---- Typed field readers ---------------------------------------------------------------------------

// The first key of `object` (in document order) not in `known` is an "unknown field" error.
Expected<void> check_fields(const ojson& object, const std::string& path,
                            std::initializer_list<std::string_view> known);
const ojson* optional_field(const ojson& object, const std::string& key);
Expected<const ojson*> required_field(const ojson& object, const std::string& path, const std::string& key);
// `type` is a JSON Schema type name: object, array, string, integer, number, boolean, null.
Expected<void> expect_type(const ojson& value, const std::string& path, std::string_view type);
Expected<std::string> read_string(const ojson& value, const std::string& path);
Expected<int> read_positive_int(const ojson& value, const std::string& path);
// [A-Za-z0-9_-]{1,64}; `what` is "agent", "node", ...
Expected<void> check_name(const std::string& name, const std::string& path, std::string_view what);

// ---- What the first pass reads --------------------------------------------------------------------

struct ToolRef {
  std::string path;
  std::string name;       // the SpecEnvironment::tools key, or the sub-workflow's name
  bool workflow = false;  // "workflow:<name>"
};

struct AgentSpec {
  std::string path;
  AgentOptions options;  // everything but the tools, which may be sub-workflows built later
  std::vector<ToolRef> tools;
};

struct NodeSpec {
  enum class Kind { agent, workflow, function, remote };  // classifier and template nodes are functions
  Kind kind = Kind::function;
  std::string name, path;
  std::string target, member;  // remote: what runs, and where (empty: any member hosting it)
  std::string ref, ref_path;  // agent and workflow nodes: the name referred to, and where
  NodeFn fn;                  // function nodes
};

struct EdgeSpec {
  std::string from, to;
};
struct RouterSpec {
  std::string from;
  std::map<std::string, std::string> routes;  // label as written -> target
};
struct ParallelSpec {
  std::string from, join;
  std::vector<std::string> branches;
};

struct WorkflowSpec {
  std::string name, path, description;
  std::optional<std::string> entry;
  int max_visits = Workflow::kDefaultMaxVisitsPerNode;
  std::vector<NodeSpec> nodes;  // in document order
  std::map<std::string, std::size_t> node_index;
  std::vector<EdgeSpec> edges;
  std::vector<RouterSpec> routers;
  std::vector<ParallelSpec> parallel;
};

// What the nodes of a workflow may refer to.
struct SpecScope {
  const std::vector<std::string>& agents;     // agent names, in document order
  const std::vector<std::string>& workflows;  // sub-workflow names, in document order
  const SpecEnvironment& env;
};

// Reads and checks one workflow: fields, nodes and their references, then the graph (through a
// WorkflowBuilder with placeholder nodes), so that every graph problem gets a JSON path.
Expected<WorkflowSpec> read_workflow(const std::string& name, const ojson& json, const std::string& path,
                                     const SpecScope& scope);

// A builder holding the spec's graph with `nodes` (parallel to spec.nodes) as its nodes.
WorkflowBuilder assemble(const WorkflowSpec& spec, const std::vector<Node>& nodes);

// A problem the builder found, as an error at the spec element it comes from.
Error locate(const WorkflowSpec& spec, const GraphProblem& problem);

}  // namespace loomflow::detail::spec
