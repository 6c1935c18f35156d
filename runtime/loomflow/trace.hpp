// loomflow/trace.hpp — the step trace of a run: one entry per workflow node visit, model call and
// tool dispatch, in the order they finished, each under its stable step name.
//
// Step names are deterministic functions of the run's structure, never of timing, so that a
// journal can key durable replay on `(session_id, step_name)`:
//   workflow node visit   <node>#<visit>                       e.g. "classify#1"
//   nested workflow node  <parent step>/<node>#<visit>          e.g. "research#1/search#2"
//   parallel branch       <group step>/<branch>#<visit>
//   agent model call      <agent step>/turn-<t>/model           e.g. "route_billing#1/turn-1/model"
//   agent tool dispatch   <agent step>/turn-<t>/tool-<k>        k = index of the call in its turn
// A workflow run as a tool nests under the tool step; an agent run directly is rooted at its name.
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "loomflow/message.hpp"

namespace loomflow {

enum class StepKind : std::uint8_t { node, model, tool };
std::string_view to_string(StepKind kind) noexcept;

struct TraceStep {
  std::string step_name;   // stable, see above
  StepKind kind = StepKind::node;
  std::string name;        // node, model or tool name
  bool ok = true;          // false when the step failed (the error is in `detail`)
  std::string detail;      // the error, or for tools a short result preview
  std::uint64_t duration_us = 0;
  Usage usage;             // this step's own usage (model calls; nodes report their subtree)
  bool replayed = false;   // the result came from the journal (a resumed run), nothing ran again
  bool denied = false;     // tools: the tool policy refused the call for this user; it never ran
};

}  // namespace loomflow
