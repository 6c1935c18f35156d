// loomflow/actors/messages.hpp — the typed messages Loomflow's actors exchange, and their `inspect`
// overloads so CAF can serialize them (the cluster sends the same messages between processes).
//
// Messages carry names and data only — never closures or pointers. Every message of a run carries
// the run's `UserId` and `SessionId` in its `run_context`. Register them all with
// `register_message_types` (type_registry.hpp) in every process.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "loomflow/error.hpp"
#include "loomflow/events.hpp"
#include "loomflow/ids.hpp"
#include "loomflow/journal.hpp"
#include "loomflow/message.hpp"
#include "loomflow/provider.hpp"
#include "loomflow/trace.hpp"

namespace loomflow {

// ---- inspect overloads for the public value types (found by ADL) -----------------------------------

template <class Inspector, class Tag>
typename Inspector::result_type inspect(Inspector& f, StrongId<Tag>& x) {
  return f(caf::meta::type_name("loomflow.id"), x.mutable_value());
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Error& x) {
  return f(caf::meta::type_name("loomflow.error"), x.code, x.message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ToolCall& x) {
  return f(caf::meta::type_name("loomflow.tool_call"), x.id, x.name, x.arguments);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Message& x) {
  return f(caf::meta::type_name("loomflow.message"), x.role, x.content, x.tool_calls, x.tool_call_id, x.name,
           x.is_error);
}

// A conversation travels by value between processes; within one it is shared.
template <class Inspector>
typename std::enable_if<Inspector::reads_state, typename Inspector::result_type>::type inspect(Inspector& f,
                                                                                               Conversation& x) {
  std::vector<Message> messages = x.messages();
  return f(caf::meta::type_name("loomflow.conversation"), messages);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state, typename Inspector::result_type>::type inspect(Inspector& f,
                                                                                                Conversation& x) {
  std::vector<Message> messages;
  auto result = f(caf::meta::type_name("loomflow.conversation"), messages);
  x = Conversation(std::move(messages));
  return result;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Usage& x) {
  return f(caf::meta::type_name("loomflow.usage"), x.input_tokens, x.output_tokens, x.cached_input_tokens,
           x.model_calls, x.tool_calls, x.tool_errors, x.cost_usd);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TraceStep& x) {
  return f(caf::meta::type_name("loomflow.trace_step"), x.step_name, x.kind, x.name, x.ok, x.detail, x.duration_us,
           x.usage, x.replayed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ToolSpec& x) {
  return f(caf::meta::type_name("loomflow.tool_spec"), x.name, x.description, x.parameters_schema);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ModelRequest& x) {
  return f(caf::meta::type_name("loomflow.model_request"), x.model, x.agent, x.step_name, x.call_id, x.messages,
           x.tools, x.output_schema);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ModelResponse& x) {
  return f(caf::meta::type_name("loomflow.model_response"), x.message, x.usage, x.finish_reason, x.refusal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RunEvent& x) {
  return f(caf::meta::type_name("loomflow.run_event"), x.kind, x.seq, x.path, x.name, x.text, x.data, x.call_id, x.ok,
           x.replayed, x.duration_us, x.usage);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StepRecord& x) {
  return f(caf::meta::type_name("loomflow.step_record"), x.step_name, x.kind, x.name, x.input_digest, x.predecessor,
           x.output, x.is_error, x.response, x.usage, x.started_unix_us, x.duration_us, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SessionInfo& x) {
  return f(caf::meta::type_name("loomflow.session_info"), x.session_id, x.user_id, x.target, x.input, x.origin,
           x.status, x.output, x.error, x.usage, x.created_unix_ms, x.updated_unix_ms);
}

namespace actors {

// Control atoms (CAF 0.17 atoms: at most 10 characters).
using cancel_atom = caf::atom_constant<caf::atom("lf_cancel")>;
using deadline_atom = caf::atom_constant<caf::atom("lf_dline")>;
using model_done_atom = caf::atom_constant<caf::atom("lf_mdone")>;
using model_cancel_atom = caf::atom_constant<caf::atom("lf_mcancel")>;
using fail_atom = caf::atom_constant<caf::atom("lf_fail")>;          // end a run with an Error
using journal_stop_atom = caf::atom_constant<caf::atom("lf_jstop")>;

class EventChannel;

// Who a run is for and which actor roots it; carried by every message of the run. Per-run actors
// nested in the run (agent runs, sub-workflow coordinators) monitor `root`, so cancelling or
// failing the run stops them too, on whatever node they live.
// With a journal, `journal` is the store's journal actor (every step is committed there before its
// result is used) and `replay` the run's replay actor when the session has history (asked before
// every step); both are empty otherwise.
// A streamed run's `events` is the buffer its consumer reads (see event_channel.hpp); empty when
// nobody streams. It stays in the process: it is not part of the serialised message.
struct run_context {
  UserId user_id;
  SessionId session_id;
  caf::actor root;     // the top-level run's actor; empty until the run starts
  caf::actor journal;  // a journal_actor, or empty: the run is not journaled
  caf::actor replay;   // a replay_actor, or empty: nothing to replay
  std::shared_ptr<EventChannel> events;
};

// Run one node visit (or a whole workflow/agent, for coordinators and agent actors).
struct node_call {
  run_context ctx;
  std::string step;   // stable step name of this visit, e.g. "classify#1"; nested steps extend it
  std::string input;
  std::string predecessor;  // the step that handed over (journal routing checks); see run_token
  std::vector<Message> history;  // agent runs: earlier turns of the conversation, before `input`
};

// The outcome of a node_call. `error.code == ErrorCode::ok` means success.
struct node_result {
  Error error{ErrorCode::ok, {}};
  std::string output;
  Usage usage;
  std::vector<TraceStep> trace;      // the subtree's steps (nested agents, workflows, tools)
  std::vector<std::string> visited;  // coordinators: the nodes in the order they ran
  std::vector<Message> messages;     // agent actors: the conversation
  bool replayed = false;             // the result came from the journal
  bool failed() const noexcept { return error.code != ErrorCode::ok; }
};

// A workflow run in motion. Node actors hand it from one to the next, so a step costs one message;
// it returns to the run's coordinator when the run ends or fails, or at a parallel group.
struct run_token {
  static constexpr std::int32_t kFinished = -1;  // `input` holds the run's output
  static constexpr std::int32_t kParallel = -2;  // `input` feeds the group after `parallel_from`

  run_context ctx;
  caf::actor coordinator;            // where the token returns
  std::string prefix;                // step name prefix of this workflow's nodes
  std::int32_t node = 0;             // the node to run now (its visit is already claimed), or k*
  std::int32_t parallel_from = -1;   // with kParallel: the node owning the group, -1 = the start
  std::string input;                 // the node's input
  std::string last_step;             // the step that handed over: the predecessor of the next step
  std::vector<std::int32_t> visits;  // per node
  node_result acc;                   // visited, trace and usage so far; `error` when the run failed
};

// One model call of an agent.
struct model_call {
  run_context ctx;
  ModelRequest request;
};

struct model_result {
  Error error{ErrorCode::ok, {}};
  ModelResponse response;
  bool failed() const noexcept { return error.code != ErrorCode::ok; }
};

// One tool dispatch of an agent turn.
struct tool_invocation {
  run_context ctx;
  std::string step;   // e.g. "route_billing#1/turn-1/tool-0"
  ToolCall call;
  bool redelivery = false;  // dispatched before a crash, and again now (see ToolContext)
};

// A tool's outcome. Failures are results too (`is_error`): they go back to the model.
struct tool_result {
  std::string content;
  bool is_error = false;
  Usage usage;                    // of nested runs (workflow tools)
  std::vector<TraceStep> trace;   // of nested runs
};

// ---- the journal ----------------------------------------------------------------------------------

// Opens a run's session in the journal, then starts the run: the journal actor sends `call` (its
// context completed with the journal and replay actors) to `root`, or fails the run with fail_atom.
struct journal_start {
  SessionInfo info;
  caf::actor root;
  node_call call;
};

// Commits one step; the answer comes once it is durable.
struct journal_append {
  SessionId session;
  StepRecord step;
};

// The committed record — which is another writer's when that one got there first.
struct journal_appended {
  Error error{ErrorCode::ok, {}};
  StepRecord step;
};

// A run ended: its session's final status.
struct journal_finish {
  SessionInfo info;
};

// From the journal's sync thread back to its actor: a session was read for a starting run.
struct journal_loaded {
  journal_start start;
  Error error{ErrorCode::ok, {}};
  bool known = false;  // the session has a session record (`info`)
  SessionInfo info;
  std::vector<StepRecord> steps;
};

// From the journal's sync thread back to its actor: a batch is durable (or failed).
struct journal_committed {
  Error error{ErrorCode::ok, {}};
  std::vector<StepRecord> steps;  // the committed record of each step, in batch order
};

// Asks a run's replay log about a step before it runs.
struct replay_lookup {
  std::string step;
  JournalStepKind kind = JournalStepKind::node;
  std::uint64_t input_digest = 0;
  std::string predecessor;  // node steps
  bool branch = false;      // a parallel branch: its siblings share the predecessor
};

// `error` is journal_divergence when the step contradicts the journal; else `found` tells whether
// `step` holds the recorded result to use instead of running it.
struct replay_answer {
  Error error{ErrorCode::ok, {}};
  bool found = false;
  StepRecord step;
  bool dispatched = false;  // a tool step not found: its dispatch had started before the crash
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_context& x) {
  return f(caf::meta::type_name("loomflow.run_context"), x.user_id, x.session_id, x.root, x.journal, x.replay);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_call& x) {
  return f(caf::meta::type_name("loomflow.node_call"), x.ctx, x.step, x.input, x.predecessor, x.history);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_result& x) {
  return f(caf::meta::type_name("loomflow.node_result"), x.error, x.output, x.usage, x.trace, x.visited, x.messages,
           x.replayed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_token& x) {
  return f(caf::meta::type_name("loomflow.run_token"), x.ctx, x.coordinator, x.prefix, x.node, x.parallel_from,
           x.input, x.last_step, x.visits, x.acc);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_call& x) {
  return f(caf::meta::type_name("loomflow.model_call"), x.ctx, x.request);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_result& x) {
  return f(caf::meta::type_name("loomflow.model_result"), x.error, x.response);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_invocation& x) {
  return f(caf::meta::type_name("loomflow.tool_invocation"), x.ctx, x.step, x.call, x.redelivery);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_result& x) {
  return f(caf::meta::type_name("loomflow.tool_result"), x.content, x.is_error, x.usage, x.trace);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_start& x) {
  return f(caf::meta::type_name("loomflow.journal_start"), x.info, x.root, x.call);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_append& x) {
  return f(caf::meta::type_name("loomflow.journal_append"), x.session, x.step);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_appended& x) {
  return f(caf::meta::type_name("loomflow.journal_appended"), x.error, x.step);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_finish& x) {
  return f(caf::meta::type_name("loomflow.journal_finish"), x.info);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_loaded& x) {
  return f(caf::meta::type_name("loomflow.journal_loaded"), x.start, x.error, x.known, x.info, x.steps);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_committed& x) {
  return f(caf::meta::type_name("loomflow.journal_committed"), x.error, x.steps);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_lookup& x) {
  return f(caf::meta::type_name("loomflow.replay_lookup"), x.step, x.kind, x.input_digest, x.predecessor, x.branch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_answer& x) {
  return f(caf::meta::type_name("loomflow.replay_answer"), x.error, x.found, x.step, x.dispatched);
}

}  // namespace actors
}  // namespace loomflow
