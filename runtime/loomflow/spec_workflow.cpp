// Workflows of a spec: fields, nodes and their references, edges, routers and parallel groups, and
// the mapping of the builder's graph problems back to JSON paths.
#include <algorithm>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/detail/spec_reader.hpp"

namespace loomflow::detail::spec {

namespace {

constexpr std::string_view kStart = Workflow::START;
constexpr std::string_view kEnd = Workflow::END;

Expected<std::string> identity_router(std::string_view output) { return std::string(output); }

Expected<NodeFn> read_classifier(const ojson& json, const std::string& path) {
  if (auto ok = check_fields(json, path, {"type", "labels", "default"}); !ok) return ok.error();
  auto labels = required_field(json, path, "labels");
  if (!labels) return labels.error();
  auto fallback_field = required_field(json, path, "default");
  if (!fallback_field) return fallback_field.error();
  const std::string labels_path = path + ".labels";
  if (auto ok = expect_type(**labels, labels_path, "object"); !ok) return ok.error();
  if ((*labels)->empty()) return fail(labels_path, "a keyword classifier needs at least one label");
  std::vector<KeywordLabel> parsed;
  for (const auto& [label, keywords] : (*labels)->items()) {
    const std::string label_path = key_path(labels_path, label);
    if (label.empty()) return fail(label_path, "a label must not be empty");
    if (auto ok = expect_type(keywords, label_path, "array"); !ok) return ok.error();
    if (keywords.empty()) return fail(label_path, "label " + in_quotes(label) + " needs at least one keyword");
    KeywordLabel entry{label, {}};
    for (std::size_t i = 0; i < keywords.size(); ++i) {
      auto keyword = read_string(keywords[i], index_path(label_path, i));
      if (!keyword) return keyword.error();
      if (keyword->empty()) return fail(index_path(label_path, i), "a keyword must not be empty");
      entry.keywords.push_back(std::move(*keyword));
    }
    parsed.push_back(std::move(entry));
  }
  auto fallback = read_string(**fallback_field, path + ".default");
  if (!fallback) return fallback.error();
  if (fallback->empty()) return fail(path + ".default", "the default label must not be empty");
  return keyword_classifier(std::move(parsed), std::move(*fallback));
}

// Reads the one field ("agent", "workflow" or "function") naming what the node runs.
Expected<std::string> read_reference(const ojson& json, const std::string& path, const std::string& field) {
  if (auto ok = check_fields(json, path, {"type", field}); !ok) return ok.error();
  auto value = required_field(json, path, field);
  if (!value) return value.error();
  return read_string(**value, path + "." + field);
}

Expected<NodeSpec> read_node(const std::string& name, const ojson& json, const std::string& path,
                             const SpecScope& scope) {
  if (auto ok = check_name(name, path, "node"); !ok) return ok.error();
  if (name == kStart || name == kEnd) return fail(path, "node name " + in_quotes(name) + " is reserved");
  if (auto ok = expect_type(json, path, "object"); !ok) return ok.error();
  auto type_field = required_field(json, path, "type");
  if (!type_field) return type_field.error();
  auto type = read_string(**type_field, path + ".type");
  if (!type) return type.error();
  NodeSpec node;
  node.name = name;
  node.path = path;
  if (*type == "agent" || *type == "workflow" || *type == "function") {
    auto ref = read_reference(json, path, *type);
    if (!ref) return ref.error();
    node.ref = *ref;
    node.ref_path = path + "." + *type;
    auto unknown = [&](std::string_view what, const std::vector<std::string>& known, std::string_view none) {
      return fail(node.ref_path, "unknown " + std::string(what) + " " + in_quotes(*ref) + " " + listing(known, none));
    };
    if (*type == "agent") {
      node.kind = NodeSpec::Kind::agent;
      if (!find_name(scope.agents, *ref)) return unknown("agent", scope.agents, "no agents are defined");
    } else if (*type == "workflow") {
      node.kind = NodeSpec::Kind::workflow;
      if (!find_name(scope.workflows, *ref))
        return unknown("sub-workflow", scope.workflows, "no sub-workflows are defined");
    } else if (auto fn = scope.env.functions.find(*ref); fn != scope.env.functions.end()) {
      node.fn = fn->second;
    } else {
      std::vector<std::string> known;
      for (const auto& [key, value] : scope.env.functions) known.push_back(key);
      return unknown("function", known, "this host offers no functions");
    }
  } else if (*type == "keyword_classifier") {
    auto fn = read_classifier(json, path);
    if (!fn) return fn.error();
    node.fn = std::move(*fn);
  } else if (*type == "remote") {
    if (auto ok = check_fields(json, path, {"type", "target", "member"}); !ok) return ok.error();
    auto field = required_field(json, path, "target");
    if (!field) return field.error();
    auto target = read_string(**field, path + ".target");
    if (!target) return target.error();
    if (target->empty()) return fail(path + ".target", "the target must not be empty");
    node.kind = NodeSpec::Kind::remote;
    node.target = *target;
    if (const ojson* member = optional_field(json, "member")) {
      auto name = read_string(*member, path + ".member");
      if (!name) return name.error();
      node.member = *name;
    }
  } else if (*type == "template") {
    if (auto ok = check_fields(json, path, {"type", "template"}); !ok) return ok.error();
    auto field = required_field(json, path, "template");
    if (!field) return field.error();
    auto text = read_string(**field, path + ".template");
    if (!text) return text.error();
    node.fn = text_template(std::move(*text));
  } else {
    return fail(path + ".type", "unknown node type " + dump(**type_field) +
                                    " (expected agent, workflow, function, keyword_classifier, template, remote)");
  }
  return node;
}

// Reads "edges", "routers" and "parallel", checking every name they use. A node (or the start) has
// at most one successor, so each source is claimed by the first element that uses it.
class SuccessorReader {
 public:
  explicit SuccessorReader(WorkflowSpec& wf)
      : wf_(wf), not_a_node_(" is not a node of workflow " + in_quotes(wf.name)) {
    if (wf.entry) claimed_.emplace(std::string(kStart), wf.path + ".entry");
  }

  Expected<void> read(const ojson& json) {
    const ojson* edges = optional_field(json, "edges");
    for (std::size_t i = 0; edges && i < edges->size(); ++i)
      if (auto ok = edge((*edges)[i], index_path(wf_.path + ".edges", i)); !ok) return ok;
    const ojson* routers = optional_field(json, "routers");
    for (std::size_t i = 0; routers && i < routers->size(); ++i)
      if (auto ok = router((*routers)[i], index_path(wf_.path + ".routers", i)); !ok) return ok;
    const ojson* groups = optional_field(json, "parallel");
    for (std::size_t i = 0; groups && i < groups->size(); ++i)
      if (auto ok = parallel((*groups)[i], index_path(wf_.path + ".parallel", i)); !ok) return ok;
    return {};
  }

 private:
  bool is_node(const std::string& name) const { return wf_.node_index.count(name) != 0; }

  Expected<void> claim(const std::string& from, const std::string& path) {
    auto [it, fresh] = claimed_.emplace(from, path);
    if (fresh) return {};
    std::string who = from == kStart ? "the start" : "node " + in_quotes(from);
    return fail(path + ".from", who + " already has a successor (" + it->second +
                                    "); a node has one edge, one router or one parallel group");
  }

  // The required string field `key` of `object`.
  static Expected<std::string> text(const ojson& object, const std::string& path, const std::string& key) {
    auto field = required_field(object, path, key);
    if (!field) return field.error();
    return read_string(**field, path + "." + key);
  }

  Expected<void> edge(const ojson& e, const std::string& path) {
    if (auto ok = expect_type(e, path, "object"); !ok) return ok;
    if (auto ok = check_fields(e, path, {"from", "to"}); !ok) return ok;
    auto from = text(e, path, "from");
    if (!from) return from.error();
    auto to = text(e, path, "to");
    if (!to) return to.error();
    if (*from == kStart) return fail(path + ".from", "an edge cannot start at '__start__'; set \"entry\" instead");
    if (!is_node(*from)) return fail(path + ".from", "edge source " + in_quotes(*from) + not_a_node_);
    if (!is_node(*to) && *to != kEnd) return fail(path + ".to", "edge target " + in_quotes(*to) + not_a_node_);
    if (auto ok = claim(*from, path); !ok) return ok;
    wf_.edges.push_back({std::move(*from), std::move(*to)});
    return {};
  }

  Expected<void> router(const ojson& r, const std::string& path) {
    if (auto ok = expect_type(r, path, "object"); !ok) return ok;
    if (auto ok = check_fields(r, path, {"from", "routes"}); !ok) return ok;
    auto from = text(r, path, "from");
    if (!from) return from.error();
    auto routes = required_field(r, path, "routes");
    if (!routes) return routes.error();
    if (!is_node(*from)) return fail(path + ".from", "router source " + in_quotes(*from) + not_a_node_);
    if (auto ok = expect_type(**routes, path + ".routes", "object"); !ok) return ok;
    if ((*routes)->empty()) return fail(path + ".routes", "a router needs at least one route");
    RouterSpec router{*from, {}};
    std::map<std::string, std::string> normalized;  // normalized label -> label as written
    for (const auto& [label, target] : (*routes)->items()) {
      const std::string label_path = key_path(path + ".routes", label);
      auto norm = detail::normalize_label(label);
      if (norm.empty()) return fail(label_path, "a router label must not be empty");
      if (auto [it, fresh] = normalized.emplace(norm, label); !fresh)
        return fail(label_path, "router label " + in_quotes(label) + " repeats label " + in_quotes(it->second) +
                                    " (labels are compared trimmed and case-insensitively)");
      auto to = read_string(target, label_path);
      if (!to) return to.error();
      if (to->empty()) return fail(label_path, "router label " + in_quotes(label) + " has no target");
      if (!is_node(*to) && *to != kEnd) return fail(label_path, "router target " + in_quotes(*to) + not_a_node_);
      router.routes.emplace(label, std::move(*to));
    }
    if (auto ok = claim(*from, path); !ok) return ok;
    wf_.routers.push_back(std::move(router));
    return {};
  }

  Expected<void> parallel(const ojson& p, const std::string& path) {
    if (auto ok = expect_type(p, path, "object"); !ok) return ok;
    if (auto ok = check_fields(p, path, {"from", "branches", "join"}); !ok) return ok;
    auto from = text(p, path, "from");
    if (!from) return from.error();
    auto branches = required_field(p, path, "branches");
    if (!branches) return branches.error();
    auto join = text(p, path, "join");
    if (!join) return join.error();
    if (!is_node(*from) && *from != kStart)
      return fail(path + ".from", "parallel source " + in_quotes(*from) + not_a_node_);
    if (auto ok = expect_type(**branches, path + ".branches", "array"); !ok) return ok;
    if ((*branches)->empty()) return fail(path + ".branches", "a parallel group needs at least one branch");
    ParallelSpec group{*from, *join, {}};
    for (std::size_t b = 0; b < (*branches)->size(); ++b) {
      const std::string branch_path = index_path(path + ".branches", b);
      auto branch = read_string((**branches)[b], branch_path);
      if (!branch) return branch.error();
      if (!is_node(*branch)) return fail(branch_path, "parallel branch " + in_quotes(*branch) + not_a_node_);
      if (std::find(group.branches.begin(), group.branches.end(), *branch) != group.branches.end())
        return fail(branch_path, "branch " + in_quotes(*branch) + " is listed twice");
      if (*branch == *join) return fail(branch_path, in_quotes(*branch) + " cannot be both a branch and the join");
      group.branches.push_back(std::move(*branch));
    }
    if (!is_node(*join)) return fail(path + ".join", "parallel join " + in_quotes(*join) + not_a_node_);
    if (auto ok = claim(*from, path); !ok) return ok;
    wf_.parallel.push_back(std::move(group));
    return {};
  }

  WorkflowSpec& wf_;
  const std::string not_a_node_;
  std::map<std::string, std::string> claimed_;  // source -> path of the element that claimed it
};

}  // namespace

WorkflowBuilder assemble(const WorkflowSpec& spec, const std::vector<Node>& nodes) {
  WorkflowBuilder builder(spec.name);
  for (const auto& node : nodes) builder.add_node(node);
  if (spec.entry) builder.set_entry(*spec.entry);
  builder.max_visits_per_node(spec.max_visits);
  for (const auto& e : spec.edges) builder.add_edge(e.from, e.to);
  for (const auto& r : spec.routers) builder.add_router(r.from, identity_router, r.routes);
  for (const auto& p : spec.parallel) builder.add_parallel(p.from, p.branches, p.join);
  return builder;
}

Error locate(const WorkflowSpec& spec, const GraphProblem& problem) {
  auto index_of = [&](const auto& items) {
    auto it = std::find_if(items.begin(), items.end(), [&](const auto& x) { return x.from == problem.subject; });
    return static_cast<std::size_t>(it - items.begin());
  };
  std::string path = spec.path;
  switch (problem.where) {
    case GraphProblem::Where::workflow:
      break;
    case GraphProblem::Where::node:
      path = key_path(spec.path + ".nodes", problem.subject);
      if (problem.message.find("unreachable") != std::string::npos) {
        std::string entry =
            spec.entry ? in_quotes(*spec.entry)
            : std::any_of(spec.parallel.begin(), spec.parallel.end(), [](auto& p) { return p.from == kStart; })
                ? std::string("(the parallel group from '__start__')")
                : in_quotes(spec.nodes.front().name);
        return fail(path, "node " + in_quotes(problem.subject) + " is unreachable from the entry " + entry);
      }
      break;
    case GraphProblem::Where::edge:
      if (problem.subject == kStart)
        path += ".entry";
      else if (auto i = index_of(spec.edges); i < spec.edges.size())
        path = index_path(spec.path + ".edges", i) + (problem.target.empty() ? "" : ".to");
      break;
    case GraphProblem::Where::router:
      if (auto i = index_of(spec.routers); i < spec.routers.size()) {
        path = index_path(spec.path + ".routers", i);
        if (!problem.target.empty()) path = key_path(path + ".routes", problem.target);
      }
      break;
    case GraphProblem::Where::parallel:
      if (auto i = index_of(spec.parallel); i < spec.parallel.size()) {
        path = index_path(spec.path + ".parallel", i);
        const auto& branches = spec.parallel[i].branches;
        if (auto b = std::find(branches.begin(), branches.end(), problem.target); b != branches.end())
          path = index_path(path + ".branches", static_cast<std::size_t>(b - branches.begin()));
        else if (!problem.target.empty() && problem.target == spec.parallel[i].join)
          path += ".join";
      }
      break;
  }
  return fail(path, problem.message);
}

Expected<WorkflowSpec> read_workflow(const std::string& name, const ojson& json, const std::string& path,
                                     const SpecScope& scope) {
  if (auto ok = expect_type(json, path, "object"); !ok) return ok.error();
  if (auto ok = check_fields(json, path,
                             {"description", "entry", "max_visits_per_node", "nodes", "edges", "routers", "parallel"});
      !ok)
    return ok.error();
  WorkflowSpec wf;
  wf.name = name;
  wf.path = path;
  if (const ojson* v = optional_field(json, "description")) {
    auto text = read_string(*v, path + ".description");
    if (!text) return text.error();
    wf.description = std::move(*text);
  }
  if (const ojson* v = optional_field(json, "entry")) {
    auto text = read_string(*v, path + ".entry");
    if (!text) return text.error();
    wf.entry = std::move(*text);
  }
  if (const ojson* v = optional_field(json, "max_visits_per_node")) {
    auto cap = read_positive_int(*v, path + ".max_visits_per_node");
    if (!cap) return cap.error();
    wf.max_visits = *cap;
  }
  auto nodes = required_field(json, path, "nodes");
  if (!nodes) return nodes.error();
  if (auto ok = expect_type(**nodes, path + ".nodes", "object"); !ok) return ok.error();
  if ((*nodes)->empty()) return fail(path + ".nodes", "a workflow needs at least one node");
  for (const char* key : {"edges", "routers", "parallel"})
    if (const ojson* v = optional_field(json, key))
      if (auto ok = expect_type(*v, path + "." + key, "array"); !ok) return ok.error();
  for (const auto& [key, value] : (*nodes)->items()) {
    auto node = read_node(key, value, key_path(path + ".nodes", key), scope);
    if (!node) return node.error();
    wf.node_index.emplace(key, wf.nodes.size());
    wf.nodes.push_back(std::move(*node));
  }
  if (wf.entry && wf.node_index.count(*wf.entry) == 0)
    return fail(path + ".entry", "entry " + in_quotes(*wf.entry) + " is not a node of workflow " + in_quotes(name));
  if (auto ok = SuccessorReader(wf).read(json); !ok) return ok.error();
  // What the reference checks above do not cover (unreachable nodes, branches with successors, ...).
  std::vector<Node> placeholders;
  for (const auto& node : wf.nodes)
    placeholders.push_back(Node::function(node.name, [](std::string_view in) { return std::string(in); }));
  if (auto problems = assemble(wf, placeholders).problems(); !problems.empty()) return locate(wf, problems.front());
  return wf;
}

}  // namespace loomflow::detail::spec
