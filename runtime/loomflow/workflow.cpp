#include "loomflow/workflow.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <set>

#include <nlohmann/json.hpp>

#include "loomflow/detail/definitions.hpp"

namespace loomflow {

using detail::kEnd;
using detail::Successor;
using detail::WorkflowImpl;

namespace detail {
std::string normalize_label(std::string_view label) {
  auto begin = label.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  auto end = label.find_last_not_of(" \t\r\n");
  std::string out(label.substr(begin, end - begin + 1));
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}
}  // namespace detail

Expected<std::string> merge_as_json_object(const std::vector<BranchOutput>& outputs) {
  nlohmann::ordered_json merged = nlohmann::ordered_json::object();
  for (const auto& branch : outputs) merged[branch.branch] = branch.output;
  return merged.dump();
}

// ---- Node -----------------------------------------------------------------------------------------

Node Node::make_function(std::string name, NodeFn fn, NodeOptions options) {
  auto impl = std::make_shared<detail::NodeImpl>();
  impl->kind = detail::NodeImpl::Kind::function;
  impl->name = std::move(name);
  impl->fn = std::move(fn);
  impl->blocking = options.blocking;
  return Node(std::move(impl));
}

Node Node::agent(Agent agent) {
  std::string name = agent.name();  // copied first: the argument is moved below
  return Node::agent(std::move(name), std::move(agent));
}

Node Node::agent(std::string name, Agent agent) {
  auto impl = std::make_shared<detail::NodeImpl>();
  impl->kind = detail::NodeImpl::Kind::agent;
  impl->name = std::move(name);
  impl->agent = agent.shared_impl();
  return Node(std::move(impl));
}

Node Node::workflow(Workflow workflow) {
  std::string name = workflow.name();
  return Node::workflow(std::move(name), std::move(workflow));
}

Node Node::workflow(std::string name, Workflow workflow) {
  auto impl = std::make_shared<detail::NodeImpl>();
  impl->kind = detail::NodeImpl::Kind::workflow;
  impl->name = std::move(name);
  impl->workflow = workflow.shared_impl();
  return Node(std::move(impl));
}

Node Node::remote(std::string name, std::string target, std::string member) {
  auto impl = std::make_shared<detail::NodeImpl>();
  impl->kind = detail::NodeImpl::Kind::remote;
  impl->name = std::move(name);
  impl->target = std::move(target);
  impl->member = std::move(member);
  return Node(std::move(impl));
}

const std::string& Node::name() const noexcept { return impl_->name; }

Node Node::renamed(std::string name) const {
  auto impl = std::make_shared<detail::NodeImpl>(*impl_);
  impl->name = std::move(name);
  return Node(std::move(impl));
}

// ---- WorkflowBuilder --------------------------------------------------------------------------------

namespace {

bool is_start(std::string_view name) { return name == Workflow::START; }
bool is_end(std::string_view name) { return name == Workflow::END; }

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

WorkflowBuilder::WorkflowBuilder(std::string name) : impl_(std::make_shared<WorkflowImpl>()) {
  impl_->name = std::move(name);
}

WorkflowBuilder& WorkflowBuilder::add_node(Node node) {
  const auto& name = node.name();
  const std::string where = "workflow " + squote(impl_->name) + ": node " + squote(name);
  if (!is_valid_name(name) || is_start(name) || is_end(name)) {
    impl_->build_problems.push_back({GraphProblem::Where::node, name, {},
                                     where + " has an invalid name (use [A-Za-z0-9_-], 1 to 64 characters)"});
    return *this;
  }
  if (impl_->index.count(name) != 0) {
    impl_->build_problems.push_back({GraphProblem::Where::node, name, {}, where + " is defined twice"});
    return *this;
  }
  impl_->index.emplace(name, static_cast<int>(impl_->nodes.size()));
  impl_->nodes.push_back(node.shared_impl());
  impl_->successors.emplace_back();
  return *this;
}

namespace {

// Finds the successor slot for `from`, or records a problem and returns nullptr.
Successor* successor_slot(WorkflowImpl& wf, const std::string& from, GraphProblem::Where where,
                          std::string_view what) {
  Successor* slot = nullptr;
  if (is_start(from)) {
    slot = &wf.start;
  } else if (auto it = wf.index.find(from); it != wf.index.end()) {
    slot = &wf.successors[static_cast<std::size_t>(it->second)];
  } else {
    wf.build_problems.push_back({where, from, {},
                                 "workflow " + squote(wf.name) + ": " + std::string(what) + " from unknown node " +
                                     squote(from) + " (add the node before its " + std::string(what) + ")"});
    return nullptr;
  }
  if (slot->kind != Successor::Kind::none) {
    wf.build_problems.push_back(
        {where, from, {},
         "workflow " + squote(wf.name) + ": node " + squote(from) +
             " already has a successor; a node has one edge, one router or one parallel group"});
    return nullptr;
  }
  return slot;
}

}  // namespace

WorkflowBuilder& WorkflowBuilder::add_edge(std::string from, std::string to) {
  if (Successor* slot = successor_slot(*impl_, from, GraphProblem::Where::edge, "edge")) {
    slot->kind = Successor::Kind::edge;
    slot->to = std::move(to);
  }
  return *this;
}

WorkflowBuilder& WorkflowBuilder::add_router(std::string from, RouterFn router,
                                             std::map<std::string, std::string> routes) {
  if (Successor* slot = successor_slot(*impl_, from, GraphProblem::Where::router, "router")) {
    slot->kind = Successor::Kind::router;
    slot->router = std::move(router);
    slot->routes = std::move(routes);
  }
  return *this;
}

WorkflowBuilder& WorkflowBuilder::add_parallel(std::string from, std::vector<std::string> branches, std::string join,
                                               MergeFn merge) {
  if (Successor* slot = successor_slot(*impl_, from, GraphProblem::Where::parallel, "parallel group")) {
    slot->kind = Successor::Kind::parallel;
    slot->branches = std::move(branches);
    slot->join = std::move(join);
    slot->merge = std::move(merge);
  }
  return *this;
}

WorkflowBuilder& WorkflowBuilder::max_visits_per_node(int cap) {
  impl_->max_visits_per_node = cap;
  return *this;
}

namespace {

// Checks one successor's targets; `from` is the source's display name.
void check_successor(const WorkflowImpl& wf, const std::string& from, const Successor& s,
                     std::vector<GraphProblem>& out) {
  const std::string prefix = "workflow " + squote(wf.name) + ": ";
  auto known = [&](const std::string& n) { return wf.index.count(n) != 0; };
  switch (s.kind) {
    case Successor::Kind::none:
      break;
    case Successor::Kind::edge:
      if (!known(s.to) && !is_end(s.to))
        out.push_back({GraphProblem::Where::edge, from, s.to,
                       prefix + "edge from " + squote(from) + " goes to unknown node " + squote(s.to)});
      break;
    case Successor::Kind::router: {
      if (!s.router)
        out.push_back({GraphProblem::Where::router, from, {}, prefix + "router after " + squote(from) + " has no router function"});
      if (s.routes.empty())
        out.push_back({GraphProblem::Where::router, from, {},
                       prefix + "router after " + squote(from) + " has no targets (map at least one label to a node)"});
      std::set<std::string> seen;
      for (const auto& [label, target] : s.routes) {
        auto norm = detail::normalize_label(label);
        if (norm.empty())
          out.push_back({GraphProblem::Where::router, from, label,
                         prefix + "router after " + squote(from) + " has an empty label"});
        else if (!seen.insert(norm).second)
          out.push_back({GraphProblem::Where::router, from, label,
                         prefix + "router after " + squote(from) + " has label " + squote(label) +
                             " twice (labels are compared case-insensitively)"});
        if (target.empty())
          out.push_back({GraphProblem::Where::router, from, label,
                         prefix + "router label " + squote(label) + " after " + squote(from) + " has no target"});
        else if (!known(target) && !is_end(target))
          out.push_back({GraphProblem::Where::router, from, label,
                         prefix + "router label " + squote(label) + " after " + squote(from) +
                             " goes to unknown node " + squote(target)});
      }
      break;
    }
    case Successor::Kind::parallel: {
      if (s.branches.empty())
        out.push_back({GraphProblem::Where::parallel, from, {},
                       prefix + "parallel group after " + squote(from) + " has no branches"});
      if (!s.merge)
        out.push_back({GraphProblem::Where::parallel, from, {},
                       prefix + "parallel group after " + squote(from) + " has no merge function"});
      std::set<std::string> seen;
      for (const auto& b : s.branches) {
        if (!known(b)) {
          out.push_back({GraphProblem::Where::parallel, from, b,
                         prefix + "parallel group after " + squote(from) + " has unknown branch " + squote(b)});
          continue;
        }
        if (!seen.insert(b).second)
          out.push_back({GraphProblem::Where::parallel, from, b,
                         prefix + "parallel group after " + squote(from) + " lists branch " + squote(b) + " twice"});
        if (b == s.join)
          out.push_back({GraphProblem::Where::parallel, from, b,
                         prefix + "parallel group after " + squote(from) + ": " + squote(b) +
                             " cannot be both a branch and the join"});
        if (wf.successors[static_cast<std::size_t>(wf.index.at(b))].kind != Successor::Kind::none)
          out.push_back({GraphProblem::Where::parallel, from, b,
                         prefix + "branch " + squote(b) + " of the parallel group after " + squote(from) +
                             " has a successor of its own; branches flow into the join"});
      }
      if (!known(s.join))
        out.push_back({GraphProblem::Where::parallel, from, s.join,
                       prefix + "parallel group after " + squote(from) + " joins at unknown node " +
                           squote(s.join.empty() ? "" : s.join)});
      break;
    }
  }
}

// Targets reachable in one step from a successor.
std::vector<std::string> targets_of(const Successor& s) {
  switch (s.kind) {
    case Successor::Kind::none: return {};
    case Successor::Kind::edge: return {s.to};
    case Successor::Kind::router: {
      std::vector<std::string> out;
      for (const auto& [label, target] : s.routes) out.push_back(target);
      return out;
    }
    case Successor::Kind::parallel: {
      auto out = s.branches;
      out.push_back(s.join);
      return out;
    }
  }
  return {};
}

// The start, with the default entry (the first node) filled in.
Successor effective_start(const WorkflowImpl& wf) {
  if (wf.start.kind != Successor::Kind::none || wf.nodes.empty()) return wf.start;
  Successor s;
  s.kind = Successor::Kind::edge;
  s.to = wf.nodes.front()->name;
  return s;
}

}  // namespace

std::vector<GraphProblem> WorkflowBuilder::problems() const {
  const WorkflowImpl& wf = *impl_;
  std::vector<GraphProblem> out = wf.build_problems;
  const std::string prefix = "workflow " + squote(wf.name) + ": ";
  if (!is_valid_name(wf.name))
    out.push_back({GraphProblem::Where::workflow, {}, {},
                   "workflow " + squote(wf.name) + " has an invalid name (use [A-Za-z0-9_-], 1 to 64 characters)"});
  if (wf.nodes.empty()) {
    out.push_back({GraphProblem::Where::workflow, {}, {}, prefix + "has no nodes"});
    return out;
  }
  if (wf.max_visits_per_node < 1)
    out.push_back({GraphProblem::Where::workflow, {}, {},
                   prefix + "max_visits_per_node must be at least 1, got " + std::to_string(wf.max_visits_per_node)});
  const Successor start = effective_start(wf);
  check_successor(wf, std::string(Workflow::START), start, out);
  for (std::size_t i = 0; i < wf.nodes.size(); ++i) check_successor(wf, wf.nodes[i]->name, wf.successors[i], out);
  if (!out.empty()) return out;  // reachability is meaningless with dangling targets

  std::vector<bool> seen(wf.nodes.size(), false);
  std::deque<std::string> queue;
  for (auto& t : targets_of(start)) queue.push_back(t);
  while (!queue.empty()) {
    auto name = std::move(queue.front());
    queue.pop_front();
    if (is_end(name)) continue;
    auto idx = static_cast<std::size_t>(wf.index.at(name));
    if (seen[idx]) continue;
    seen[idx] = true;
    for (auto& t : targets_of(wf.successors[idx])) queue.push_back(t);
  }
  for (std::size_t i = 0; i < wf.nodes.size(); ++i)
    if (!seen[i])
      out.push_back({GraphProblem::Where::node, wf.nodes[i]->name, {},
                     prefix + "node " + squote(wf.nodes[i]->name) + " is unreachable from the entry"});
  return out;
}

namespace {

int index_of(const WorkflowImpl& wf, const std::string& name) {
  return is_end(name) ? kEnd : wf.index.at(name);
}

void resolve(const WorkflowImpl& wf, Successor& s) {
  switch (s.kind) {
    case Successor::Kind::none: break;
    case Successor::Kind::edge: s.to_index = index_of(wf, s.to); break;
    case Successor::Kind::router:
      for (const auto& [label, target] : s.routes) s.route_index.emplace(detail::normalize_label(label), index_of(wf, target));
      break;
    case Successor::Kind::parallel:
      for (const auto& b : s.branches) s.branch_index.push_back(index_of(wf, b));
      s.join_index = index_of(wf, s.join);
      break;
  }
}

}  // namespace

Expected<Workflow> WorkflowBuilder::build() const {
  auto found = problems();
  if (!found.empty()) {
    std::string message = found.front().message;
    if (found.size() > 1) message += " (and " + std::to_string(found.size() - 1) + " more problems)";
    return Error{ErrorCode::invalid_workflow, std::move(message)};
  }
  auto frozen = std::make_shared<WorkflowImpl>(*impl_);
  frozen->start = effective_start(*frozen);
  resolve(*frozen, frozen->start);
  for (auto& s : frozen->successors) resolve(*frozen, s);
  return Workflow(std::move(frozen));
}

// ---- Workflow builders ------------------------------------------------------------------------------

Expected<Workflow> Workflow::chain(std::string name, std::vector<Node> nodes) {
  WorkflowBuilder builder(std::move(name));
  for (auto& node : nodes) builder.add_node(node);
  for (std::size_t i = 0; i + 1 < nodes.size(); ++i) builder.add_edge(nodes[i].name(), nodes[i + 1].name());
  return builder.build();
}

Expected<Workflow> Workflow::route(std::string name, Node classifier, std::map<std::string, Node> routes) {
  WorkflowBuilder builder(std::move(name));
  builder.add_node(classifier);
  std::map<std::string, std::string> targets;
  for (auto& [label, node] : routes) {
    std::string target = "route_" + label;
    builder.add_node(node.renamed(target));
    targets.emplace(label, std::move(target));
  }
  // The classifier's output is the label itself.
  builder.add_router(classifier.name(), [](std::string_view output) -> Expected<std::string> {
    return std::string(output);
  }, std::move(targets));
  return builder.build();
}

Expected<Workflow> Workflow::parallel(std::string name, std::vector<Node> branches, Node join, MergeFn merge) {
  WorkflowBuilder builder(std::move(name));
  std::vector<std::string> branch_names;
  for (auto& node : branches) {
    builder.add_node(node);
    branch_names.push_back(node.name());
  }
  builder.add_node(join);
  builder.add_parallel(std::string(START), std::move(branch_names), join.name(), std::move(merge));
  return builder.build();
}

const std::string& Workflow::name() const noexcept { return impl_->name; }

Tool Workflow::as_tool(std::string name, std::string description) const {
  auto impl = std::make_shared<detail::ToolImpl>();
  impl->kind = detail::ToolImpl::Kind::workflow;
  impl->spec.name = std::move(name);
  impl->spec.description = std::move(description);
  impl->spec.parameters_schema =
      R"({"type":"object","properties":{"input":{"type":"string","description":"The input text for the workflow"}},)"
      R"("required":["input"],"additionalProperties":false})";
  impl->parameters = std::make_shared<const CheckedSchema>(CheckedSchema::parse(impl->spec.parameters_schema).value());
  impl->workflow = impl_;
  return Tool(std::move(impl));
}

}  // namespace loomflow
