// loomflow/workflow.hpp — `Workflow`: a graph the developer owns. Nodes are functions, Agents or
// other Workflows; edges, routers and parallel groups say what runs next.
//
//   auto wf = WorkflowBuilder("support")
//                 .add_node(Node::function("classify", classify))
//                 .add_node(Node::agent("route_billing", billing))
//                 .add_node(Node::agent("route_tech", tech))
//                 .add_router("classify", label_of, {{"billing", "route_billing"}, {"tech", "route_tech"}})
//                 .build();   // Expected<Workflow>
//
// Semantics of a run:
// - It starts at the entry (the target of `START`; by default the first node added) with the
//   run's input. Each node gets the previous node's output as its input.
// - After a node: its edge names the next node; or its router maps the node's output to a label
//   and the label to the next node; or its parallel group runs the branches concurrently on the
//   node's output, merges their outputs (in declaration order) and runs the join node on the
//   merge. A node with none of these, or a target of `END`, ends the run with its output.
// - Cycles are allowed. A node entered more than `max_visits_per_node` times (default 25) stops
//   the run with an error naming the node and the cap.
// - `visited` lists the nodes in the order they ran; parallel branches appear in declaration order.
// A built Workflow is immutable, cheap to copy and safe to share between threads and runs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "loomflow/agent.hpp"
#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"
#include "loomflow/tool.hpp"

namespace loomflow {

namespace detail {
struct NodeImpl;
struct WorkflowImpl;
}  // namespace detail

class Workflow;

// What a function node sees.
struct NodeContext {
  std::string_view input;       // the previous node's output (or the run's input)
  const UserId& user_id;
  const SessionId& session_id;
  std::string_view step_name;   // e.g. "classify#1"
};

using NodeFn = std::function<Expected<std::string>(const NodeContext&)>;
// Maps a node's output to a route label.
using RouterFn = std::function<Expected<std::string>(std::string_view output)>;

struct BranchOutput {
  std::string branch;  // the branch node's name
  std::string output;
};
// Merges the outputs of a parallel group (in declaration order) into the join node's input.
using MergeFn = std::function<Expected<std::string>(const std::vector<BranchOutput>&)>;

// The default merge: a JSON object {"<branch>": "<output>", ...} in declaration order.
Expected<std::string> merge_as_json_object(const std::vector<BranchOutput>& outputs);

struct NodeOptions {
  bool blocking = false;  // the function blocks: run each call on a detached actor (default: no)
};

class Node {
 public:
  // A function node. `fn` is either `Expected<std::string>(const NodeContext&)` or any callable
  // taking the input as `std::string_view` and returning `Expected<std::string>` or something
  // convertible to std::string.
  template <class F>
  static Node function(std::string name, F&& fn, NodeOptions options = {}) {
    if constexpr (std::is_invocable_r_v<Expected<std::string>, F, const NodeContext&>) {
      return make_function(std::move(name), NodeFn(std::forward<F>(fn)), options);
    } else {
      static_assert(std::is_invocable_v<F, std::string_view>,
                    "a node function takes (const NodeContext&) or (std::string_view)");
      return make_function(
          std::move(name),
          NodeFn([f = std::forward<F>(fn)](const NodeContext& ctx) -> Expected<std::string> {
            if constexpr (std::is_same_v<std::invoke_result_t<F, std::string_view>, Expected<std::string>>)
              return f(ctx.input);  // a function that may fail
            else
              return std::string(f(ctx.input));
          }),
          options);
    }
  }
  static Node agent(Agent agent);                     // named after the agent
  static Node agent(std::string name, Agent agent);
  static Node workflow(Workflow workflow);            // named after the workflow
  static Node workflow(std::string name, Workflow workflow);
  // A node that runs `target` — an agent or workflow a cluster member hosts (loomflow/cluster/node.hpp)
  // — on `member`, or on the least loaded member hosting it; placed elsewhere like Node::start_on,
  // started again on another host if its member goes down first. Only a Runtime that is a cluster
  // node runs it; elsewhere the step fails saying so.
  static Node remote(std::string name, std::string target, std::string member = {});

  const std::string& name() const noexcept;
  Node renamed(std::string name) const;

  const detail::NodeImpl& impl() const noexcept { return *impl_; }
  const std::shared_ptr<const detail::NodeImpl>& shared_impl() const noexcept { return impl_; }

 private:
  static Node make_function(std::string name, NodeFn fn, NodeOptions options);
  explicit Node(std::shared_ptr<const detail::NodeImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::NodeImpl> impl_;
};

// One problem found when a workflow is validated. `subject` is the node (or source node of the edge,
// router or parallel group) the problem is about, so a spec loader can point at the right place.
struct GraphProblem {
  enum class Where { workflow, node, edge, router, parallel };
  Where where = Where::workflow;
  std::string subject;   // node name, or the source of the edge/router/parallel group
  std::string target;    // the offending target or label, when there is one
  std::string message;   // complete sentence naming the workflow, node and problem
};

class WorkflowBuilder {
 public:
  explicit WorkflowBuilder(std::string name);

  WorkflowBuilder& add_node(Node node);
  // `from` may be Workflow::START; `to` may be Workflow::END.
  WorkflowBuilder& add_edge(std::string from, std::string to);
  // After `from`, `router(output)` yields a label; `routes` maps labels to nodes (or END). Labels
  // are compared after trimming whitespace, case-insensitively. An unknown label fails the run with
  // the label and the known labels.
  WorkflowBuilder& add_router(std::string from, RouterFn router, std::map<std::string, std::string> routes);
  // After `from` (may be START), run `branches` concurrently on its output, then `join` on the
  // merged outputs. Branch nodes must have no successors of their own.
  WorkflowBuilder& add_parallel(std::string from, std::vector<std::string> branches, std::string join,
                                MergeFn merge = merge_as_json_object);
  WorkflowBuilder& set_entry(std::string node) { return add_edge(std::string(START_NAME), std::move(node)); }
  WorkflowBuilder& max_visits_per_node(int cap);

  // Every problem of the graph (empty when it is valid): unknown targets, unreachable nodes,
  // routers without targets, duplicate names, nodes with two kinds of successor, bad caps.
  std::vector<GraphProblem> problems() const;
  // Validates and freezes the graph; the first problem becomes an `invalid_workflow` error.
  Expected<Workflow> build() const;

  static constexpr std::string_view START_NAME = "__start__";

 private:
  std::shared_ptr<detail::WorkflowImpl> impl_;
};

class Workflow {
 public:
  static constexpr std::string_view START = WorkflowBuilder::START_NAME;
  static constexpr std::string_view END = "__end__";
  static constexpr int kDefaultMaxVisitsPerNode = 25;

  // n0 -> n1 -> ... in order.
  static Expected<Workflow> chain(std::string name, std::vector<Node> nodes);
  // `classifier` runs first; its output (trimmed, case-insensitive) is the label; label `L` runs the
  // node given for it, renamed `route_L`. visited: ["<classifier>", "route_L"].
  static Expected<Workflow> route(std::string name, Node classifier, std::map<std::string, Node> routes);
  // Branches run concurrently on the input, then `join` runs on the merged outputs.
  static Expected<Workflow> parallel(std::string name, std::vector<Node> branches, Node join,
                                     MergeFn merge = merge_as_json_object);

  const std::string& name() const noexcept;
  // This workflow as a tool taking {"input": string} and returning the workflow's output.
  Tool as_tool(std::string name, std::string description) const;

  const detail::WorkflowImpl& impl() const noexcept { return *impl_; }
  const std::shared_ptr<const detail::WorkflowImpl>& shared_impl() const noexcept { return impl_; }

 private:
  friend class WorkflowBuilder;
  explicit Workflow(std::shared_ptr<const detail::WorkflowImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::WorkflowImpl> impl_;
};

// The workflow as a Mermaid flowchart (`flowchart TD`), for `loomflow graph`.
std::string to_mermaid(const Workflow& workflow);

}  // namespace loomflow
