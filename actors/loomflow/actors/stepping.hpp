// loomflow/actors/stepping.hpp — the graph semantics applied by whoever holds a run token (a node
// actor after its node ran, or the coordinator): what runs after a node — its edge, its router's
// label, its parallel group, or the end — with max_visits_per_node enforced.
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>

#include "loomflow/actors/messages.hpp"
#include "loomflow/detail/definitions.hpp"

namespace loomflow::actors {

// Claims one more visit of `node` and appends it to `visited`; past the cap the token fails
// (naming the node and the cap) and false is returned.
bool claim_visit(const detail::WorkflowImpl& wf, std::int32_t node, run_token& token);

// Decides what follows `output` after node `from` (-1: the start). Afterwards exactly one holds:
// the token failed; token.node is run_token::kFinished with the output in token.input;
// token.node is run_token::kParallel with token.input = output and token.parallel_from = from;
// or token.node is the next node, its visit claimed, with token.input = output.
void advance(const detail::WorkflowImpl& wf, std::int32_t from, std::string output, run_token& token);

// The stable step name of the node's current visit: "<prefix><node>#<visit>".
std::string step_name(const detail::WorkflowImpl& wf, const run_token& token, std::int32_t node);

// Marks the token failed with `error`.
void fail_token(run_token& token, Error error);

// Folds a finished node's result into the token: its usage, its nested trace and its own step.
void absorb_node_result(const std::string& node_name, const std::string& step, std::uint64_t started_us,
                        node_result& result, run_token& token);

}  // namespace loomflow::actors
