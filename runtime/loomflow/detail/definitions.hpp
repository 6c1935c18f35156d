// loomflow/detail/definitions.hpp — the frozen insides of Tool, Agent, Node and Workflow.
//
// Not user API: read by the runtime's actors (which execute these definitions) and by the spec
// loader. Everything here is immutable once built and shared between runs and threads.
#pragma once

#include <chrono>

#include <map>

#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "loomflow/agent.hpp"
#include "loomflow/json_schema.hpp"
#include "loomflow/tool.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow::detail {

struct ToolImpl {
  enum class Kind { function, workflow, remote };  // remote: served by cluster workers
  Kind kind = Kind::function;
  ToolSpec spec;
  ToolFn fn;                                     // Kind::function
  bool blocking = false;                         // Kind::function
  bool idempotent = false;                       // Kind::function (workflows: false)
  bool sequential = false;                       // calls within a turn run one at a time
  std::chrono::milliseconds timeout{0};          // per call; 0 = none
  std::shared_ptr<const WorkflowImpl> workflow;  // Kind::workflow
  std::shared_ptr<const CheckedSchema> parameters;  // spec.parameters_schema, parsed: arguments are checked against it
};

struct AgentImpl {
  AgentOptions options;
  std::shared_ptr<const CheckedSchema> output_schema;  // options.output_schema, parsed; null when empty
  std::vector<ToolSpec> tool_specs;                    // in the order given
  std::unordered_map<std::string, std::size_t> tool_index;
};

struct NodeImpl {
  enum class Kind { function, agent, workflow, remote };  // remote: hosted by a cluster member
  Kind kind = Kind::function;
  std::string name;
  std::string target;  // Kind::remote: the hosted agent or workflow
  std::string member;  // Kind::remote: where it runs; empty: any member hosting it
  NodeFn fn;                                     // Kind::function
  bool blocking = false;                         // Kind::function
  std::shared_ptr<const AgentImpl> agent;        // Kind::agent
  std::shared_ptr<const WorkflowImpl> workflow;  // Kind::workflow
};

// Index of a node in WorkflowImpl::nodes, or kEnd.
constexpr int kEnd = -1;

// What follows a node (or the start).
struct Successor {
  enum class Kind { none, edge, router, parallel };
  Kind kind = Kind::none;
  // edge
  std::string to;
  int to_index = kEnd;
  // router: labels as given, and normalized label -> target index for lookup
  RouterFn router;
  std::map<std::string, std::string> routes;
  std::unordered_map<std::string, int> route_index;
  // parallel
  std::vector<std::string> branches;
  std::vector<int> branch_index;
  std::string join;
  int join_index = kEnd;
  MergeFn merge;
};

struct WorkflowImpl {
  std::string name;
  std::vector<std::shared_ptr<const NodeImpl>> nodes;  // in the order added
  std::unordered_map<std::string, int> index;          // name -> position in nodes
  std::vector<Successor> successors;                   // parallel to nodes
  Successor start;                                     // what runs first
  int max_visits_per_node = Workflow::kDefaultMaxVisitsPerNode;
  std::vector<GraphProblem> build_problems;            // found while adding (duplicates, ...)
};

// Lower-cased, whitespace-trimmed label, as routers compare them.
std::string normalize_label(std::string_view label);

}  // namespace loomflow::detail
