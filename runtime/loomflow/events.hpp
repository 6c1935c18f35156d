// loomflow/events.hpp — what a streamed run reports as it happens (see Runtime::stream).
//
// Events of nested agents, agents-as-tools and sub-workflows are reported too, each tagged with the
// step it belongs to (`path`, the stable step name of trace.hpp), so a consumer can tell a nested
// agent's text from the top-level answer. Per run, in order of arrival:
//   run_started                  first; name = the agent or workflow
//   node_entered / node_left     each workflow node visit (path "classify#1"); left carries the
//                                output (or the error) and the subtree's usage
//   text_delta                   model text as it is generated (path ".../turn-N/model", name = agent);
//                                providers that do not stream give the whole text as one delta
//   tool_call_started / _finished  path ".../turn-N/tool-K"; started carries the arguments (JSON),
//                                finished the result (ok = false for a tool error or refusal)
//   structured_output            an agent with an output_schema answered: `data` holds the JSON
//   error                        the run failed: `text` is the message, `data` {"code": ...}
//   run_finished                 last; the output, the whole run's usage, ok
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "loomflow/message.hpp"

namespace loomflow {

enum class EventKind : std::uint8_t {
  run_started,
  run_finished,
  node_entered,
  node_left,
  text_delta,
  tool_call_started,
  tool_call_finished,
  structured_output,
  error,
};
// "run_started", "text_delta", ... (the SSE event names of `loomflow serve`).
std::string_view to_string(EventKind kind) noexcept;

struct RunEvent {
  EventKind kind = EventKind::text_delta;
  std::uint64_t seq = 0;          // 1, 2, ... per run, in the order events were produced
  std::string path;               // the step it belongs to; empty for run_started/run_finished/error
  std::string name;               // the agent, workflow, node or tool
  std::string text;               // delta, output, tool result or error message
  std::string data;               // JSON text: tool arguments, structured output, error details
  std::string call_id;            // tool events: the model's id for the call
  bool ok = true;                 // *_finished, node_left: succeeded
  bool replayed = false;          // the step's result came from the journal (a resumed run)
  std::uint64_t duration_us = 0;  // *_finished, node_left
  Usage usage;                    // node_left: its subtree; run_finished: the whole run
};

// One JSON object per event, the wire form of `loomflow serve` (SSE data, WebSocket messages):
// {"seq", "type", "path", "name", ...} with only the fields the kind uses.
std::string to_json(const RunEvent& event);

}  // namespace loomflow
