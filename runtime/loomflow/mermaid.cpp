// to_mermaid: a workflow as a Mermaid flowchart, for `loomflow graph` and documentation.
#include <algorithm>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow {

using detail::Successor;
using detail::WorkflowImpl;

namespace {

bool is_start(std::string_view name) { return name == Workflow::START; }
bool is_end(std::string_view name) { return name == Workflow::END; }

}  // namespace

namespace {

std::string mermaid_id(std::string_view name) {
  if (is_start(name)) return "__start__";
  if (is_end(name)) return "__end__";
  return "n_" + std::string(name);  // prefixed: Mermaid reserves words such as "end"
}

std::string mermaid_label(std::string_view text) {
  std::string out;
  for (char c : text) out += (c == '"') ? std::string("#quot;") : std::string(1, c);
  return out;
}

void mermaid_edges(std::string& out, const std::string& from, const Successor& s) {
  switch (s.kind) {
    case Successor::Kind::none:
      if (!is_start(from)) out += "  " + mermaid_id(from) + " --> __end__\n";
      break;
    case Successor::Kind::edge:
      out += "  " + mermaid_id(from) + " --> " + mermaid_id(s.to) + "\n";
      break;
    case Successor::Kind::router:
      for (const auto& [label, target] : s.routes)
        out += "  " + mermaid_id(from) + " -- \"" + mermaid_label(label) + "\" --> " + mermaid_id(target) + "\n";
      break;
    case Successor::Kind::parallel:
      for (const auto& b : s.branches) {
        out += "  " + mermaid_id(from) + " -- \"parallel\" --> " + mermaid_id(b) + "\n";
        out += "  " + mermaid_id(b) + " -- \"join\" --> " + mermaid_id(s.join) + "\n";
      }
      break;
  }
}

}  // namespace

std::string to_mermaid(const Workflow& workflow) {
  const WorkflowImpl& wf = workflow.impl();
  std::string out = "flowchart TD\n";
  out += "  %% workflow " + wf.name + "\n";
  out += "  __start__([start])\n  __end__([end])\n";
  for (const auto& node : wf.nodes) {
    std::string_view kind = node->kind == detail::NodeImpl::Kind::function ? "function"
                            : node->kind == detail::NodeImpl::Kind::agent  ? "agent"
                            : node->kind == detail::NodeImpl::Kind::remote ? "remote"
                                                                           : "workflow";
    std::string label = mermaid_label(node->name) + "<br/><small>" + std::string(kind);
    if (node->kind == detail::NodeImpl::Kind::agent) label += " " + mermaid_label(node->agent->options.name);
    if (node->kind == detail::NodeImpl::Kind::workflow) label += " " + mermaid_label(node->workflow->name);
    if (node->kind == detail::NodeImpl::Kind::remote)
      label += " " + mermaid_label(node->target + (node->member.empty() ? "" : "@" + node->member));
    label += "</small>";
    out += "  " + mermaid_id(node->name) + "[\"" + label + "\"]\n";
  }
  mermaid_edges(out, std::string(Workflow::START), wf.start);
  for (std::size_t i = 0; i < wf.nodes.size(); ++i) {
    // Branch nodes flow into their join, drawn with the group.
    bool is_branch = false;
    auto is_branch_of = [&](const Successor& s) {
      return s.kind == Successor::Kind::parallel &&
             std::find(s.branches.begin(), s.branches.end(), wf.nodes[i]->name) != s.branches.end();
    };
    is_branch = is_branch_of(wf.start) || std::any_of(wf.successors.begin(), wf.successors.end(), is_branch_of);
    if (!is_branch) mermaid_edges(out, wf.nodes[i]->name, wf.successors[i]);
  }
  return out;
}

}  // namespace loomflow
