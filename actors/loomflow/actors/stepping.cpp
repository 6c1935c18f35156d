#include "loomflow/actors/stepping.hpp"

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

using detail::kEnd;
using detail::Successor;

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

const detail::NodeImpl& node_at(const detail::WorkflowImpl& wf, std::int32_t node) {
  return *wf.nodes[static_cast<std::size_t>(node)];
}

// Moves the token on to `target` (a node index or kEnd) with `output` as its input.
void go_to(const detail::WorkflowImpl& wf, int target, std::string output, run_token& token) {
  token.input = std::move(output);
  if (target == kEnd) {
    token.node = run_token::kFinished;
    return;
  }
  if (claim_visit(wf, target, token)) token.node = target;
}

}  // namespace

void fail_token(run_token& token, Error error) {
  token.acc.error = std::move(error);
  token.node = run_token::kFinished;
}

bool claim_visit(const detail::WorkflowImpl& wf, std::int32_t node, run_token& token) {
  auto& visits = token.visits[static_cast<std::size_t>(node)];
  const auto& name = node_at(wf, node).name;
  if (visits >= wf.max_visits_per_node) {
    const auto cap = std::to_string(wf.max_visits_per_node);
    fail_token(token, Error{ErrorCode::visit_cap_exceeded, "workflow " + squote(wf.name) + ": node " + squote(name) +
                                                               " would be entered more than " + cap +
                                                               " times (max_visits_per_node = " + cap + ")"});
    return false;
  }
  ++visits;
  token.acc.visited.push_back(name);
  return true;
}

void advance(const detail::WorkflowImpl& wf, std::int32_t from, std::string output, run_token& token) {
  const Successor& next = from < 0 ? wf.start : wf.successors[static_cast<std::size_t>(from)];
  switch (next.kind) {
    case Successor::Kind::none:
      go_to(wf, kEnd, std::move(output), token);
      return;
    case Successor::Kind::edge:
      go_to(wf, next.to_index, std::move(output), token);
      return;
    case Successor::Kind::router: {
      Expected<std::string> label = Error{ErrorCode::internal, {}};
      try {
        label = next.router(output);
      } catch (const std::exception& e) {
        label = Error{ErrorCode::internal, std::string("threw an exception: ") + e.what()};
      }
      const std::string after = from < 0 ? std::string("the start") : squote(node_at(wf, from).name);
      if (!label) {
        fail_token(token, Error{label.error().code, "workflow " + squote(wf.name) + ": router after " + after +
                                                        " failed: " + label.error().message});
        return;
      }
      auto it = next.route_index.find(detail::normalize_label(*label));
      if (it == next.route_index.end()) {
        std::string known;
        for (const auto& [l, target] : next.routes) known += (known.empty() ? "" : ", ") + l;
        fail_token(token, Error{ErrorCode::unknown_route_label, "workflow " + squote(wf.name) + ": router after " +
                                                                    after + " got unknown label " + squote(*label) +
                                                                    " (known labels: " + known + ")"});
        return;
      }
      go_to(wf, it->second, std::move(output), token);
      return;
    }
    case Successor::Kind::parallel:
      token.input = std::move(output);
      token.node = run_token::kParallel;
      token.parallel_from = from;
      return;
  }
}

std::string step_name(const detail::WorkflowImpl& wf, const run_token& token, std::int32_t node) {
  const auto& name = node_at(wf, node).name;
  std::string step;
  step.reserve(token.prefix.size() + name.size() + 4);
  step += token.prefix;
  step += name;
  step += '#';
  step += std::to_string(token.visits[static_cast<std::size_t>(node)]);
  return step;
}

void absorb_node_result(const std::string& node_name, const std::string& step, std::uint64_t started_us,
                        node_result& result, run_token& token) {
  token.acc.usage += result.usage;
  for (auto& t : result.trace) token.acc.trace.push_back(std::move(t));
  token.acc.trace.push_back(TraceStep{step, StepKind::node, node_name, !result.failed(),
                                      result.failed() ? result.error.message : std::string(),
                                      now_us() - started_us, result.usage, result.replayed});
  if (result.failed()) fail_token(token, std::move(result.error));
}

}  // namespace loomflow::actors
