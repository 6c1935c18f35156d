// The agent run actor: one per agent run. It owns the conversation and runs the turn loop — ask the
// model, dispatch every tool call of the turn concurrently, feed the results back in call order —
// until the model answers without tool calls or the turn cap is hit.
#include <deque>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "loomflow/actors/event_channel.hpp"
#include "loomflow/actors/journaling.hpp"
#include "loomflow/actors/run_scope.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/json_schema.hpp"

namespace loomflow::actors {

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

struct AgentRunState {
  std::shared_ptr<const detail::AgentImpl> agent;
  std::shared_ptr<const CompiledAgent> compiled;
  RunCompletion on_done;
  caf::typed_response_promise<node_result> promise;
  bool started = false;
  bool finished = false;
  run_context ctx;
  std::string step;  // this run's step name; turns nest under it
  int turn = 0;
  Conversation conversation;  // shared with each model request, not copied
  node_result result;         // usage and trace; the conversation joins it at the end
  // The turn's tool calls in flight.
  std::vector<tool_result> tool_results;
  std::size_t tools_pending = 0;
  std::deque<std::pair<std::size_t, std::size_t>> sequential_queue;  // (call, tool) waiting their turn
  std::size_t sequential_running = kNone;                            // the sequential call in flight
  std::string model_call_in_flight;  // its call_id, so an early end can cancel it
  std::shared_ptr<ModelTextSink> text_sink;  // a streamed run: the current model call's text

  static inline const char* name = "loomflow.agent_run";
};

using self_ptr = run_actor::stateful_pointer<AgentRunState>;

std::string who(const AgentRunState& st) { return "agent '" + st.agent->options.name + "' (step '" + st.step + "')"; }

void finish(self_ptr self, Error error, std::string output) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  // Ending early (cancelled, timed out, the run gone): the provider may stop its I/O for us.
  if (!st.model_call_in_flight.empty())
    self->send(st.compiled->model, model_cancel_atom::value, std::move(st.model_call_in_flight));
  st.result.error = std::move(error);
  st.result.output = std::move(output);
  st.result.messages = st.conversation.release();
  hand_over(st.on_done, st.promise, std::move(st.result));
  self->quit();
}

// A journal commit came back: true when the run goes on; false when it already ended, or ends now
// because `what` could not be journaled (its result must not be used).
bool committed_or_finish(self_ptr self, const journal_appended& appended, const std::string& what) {
  auto& st = self->state;
  if (st.finished) return false;
  if (appended.error.code == ErrorCode::ok) return true;
  finish(self, Error{appended.error.code, who(st) + ": " + what + " could not be journaled: " + appended.error.message}, {});
  return false;
}

// The replay log answered: true when the run goes on; false when it already ended, or ends now
// because the step diverged from the journal.
bool replay_goes_on(self_ptr self, replay_answer& answer) {
  if (self->state.finished) return false;
  if (answer.error.code == ErrorCode::ok) return true;
  finish(self, std::move(answer.error), {});
  return false;
}

// Checks a final answer against the agent's output schema.
Expected<void> check_output(const AgentRunState& st, const std::string& output) {
  const auto& schema = st.agent->output_schema;
  if (!schema) return {};
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(output);
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::output_schema_violation,
                 who(st) + ": the final answer is not JSON, but the agent has an output_schema: " + e.what()};
  }
  if (auto violation = validate_json(*schema, value))
    return Error{ErrorCode::output_schema_violation,
                 who(st) + ": the final answer does not match the output_schema: " + violation->to_string()};
  return {};
}

void next_turn(self_ptr self);

std::string turn_prefix(const AgentRunState& st) { return st.step + "/turn-" + std::to_string(st.turn); }

void finish_tools(self_ptr self) {
  auto& st = self->state;
  // Index, not reference: appending the results may reallocate the conversation.
  const std::size_t assistant = st.conversation.size() - 1;
  for (std::size_t k = 0; k < st.tool_results.size(); ++k) {
    auto& r = st.tool_results[k];
    const auto& call = st.conversation[assistant].tool_calls[k];
    auto message = Message::tool_result(call.id, call.name, std::move(r.content), r.is_error);
    st.conversation.push_back(std::move(message));
  }
  st.tool_results.clear();
  next_turn(self);
}

void launch_next_sequential(self_ptr self);

// A tool call's result arrived (or was replayed): fold it in; the last one ends the turn.
void take_tool_result(self_ptr self, std::size_t k, const std::string& step, const std::string& name,
                      std::uint64_t started, tool_result& r, bool replayed) {
  auto& st = self->state;
  st.result.usage += r.usage;
  for (auto& t : r.trace) st.result.trace.push_back(std::move(t));
  if (r.is_error) st.result.usage.tool_errors += 1;
  st.result.trace.push_back(TraceStep{step, StepKind::tool, name, !r.is_error, r.content.substr(0, 200),
                                      now_us() - started, {}, replayed});
  emit_tool_finished(st.ctx, step, st.conversation.back().tool_calls[k], !r.is_error, r.content, now_us() - started,
                     replayed);
  st.tool_results[k] = std::move(r);
  if (st.sequential_running == k) {
    st.sequential_running = kNone;
    launch_next_sequential(self);
  }
  if (--st.tools_pending == 0) finish_tools(self);
}

std::uint64_t tool_digest(const ToolCall& call) { return journal_digest(call.arguments, journal_digest(call.name)); }

// A finished call — the tool's answer, or the error of one that timed out or vanished: in a
// journaled run it is committed before the model sees it (an error too, so that a resumed run
// shows the model exactly what it saw before).
void settle_tool_call(self_ptr self, std::size_t k, const std::string& step, const std::string& name,
                      std::uint64_t started, std::int64_t started_unix, std::uint64_t digest, tool_result r) {
  auto& st = self->state;
  if (st.finished) return;
  if (!journaled(st.ctx)) {
    take_tool_result(self, k, step, name, started, r, false);
    return;
  }
  StepRecord record;
  record.step_name = step;
  record.kind = JournalStepKind::tool;
  record.name = name;
  record.input_digest = digest;
  record.output = r.content;
  record.is_error = r.is_error;
  record.usage = r.usage;
  record.started_unix_us = started_unix;
  record.duration_us = static_cast<std::int64_t>(now_us() - started);
  auto held = std::make_shared<tool_result>(std::move(r));
  commit_step(self, st.ctx, std::move(record), [self, k, step, name, started, held](journal_appended&& appended) {
    if (!committed_or_finish(self, appended, "tool step '" + step + "'")) return;
    held->content = std::move(appended.step.output);
    held->is_error = appended.step.is_error;
    take_tool_result(self, k, step, name, started, *held, false);
  });
}

// Calls the tool, within its timeout when it has one; a late answer is dropped.
void invoke_tool(self_ptr self, std::size_t k, std::size_t tool_index, std::string step, ToolCall call,
                 bool redelivery) {
  auto& st = self->state;
  const auto started = now_us();
  const auto started_unix = unix_us_now();
  const std::string name = call.name;
  const auto digest = tool_digest(call);
  const auto timeout = st.agent->options.tools[tool_index].impl().timeout;
  const caf::duration limit = timeout.count() > 0 ? caf::duration(timeout) : caf::infinite;
  self->request(st.compiled->tools[tool_index], limit, tool_invocation{st.ctx, step, std::move(call), redelivery})
      .then(
          [self, k, step, name, started, started_unix, digest](tool_result& r) {
            settle_tool_call(self, k, step, name, started, started_unix, digest, std::move(r));
          },
          [self, k, step, name, started, started_unix, digest, timeout](caf::error& err) {
            // A tool that timed out or vanished is a tool error the model sees, not a lost call.
            tool_result r;
            r.is_error = true;
            r.content = err == caf::sec::request_timeout
                            ? "tool '" + name + "' timed out after " + std::to_string(timeout.count()) + " ms"
                            : "tool '" + name + "' did not answer: " + caf::to_string(err);
            settle_tool_call(self, k, step, name, started, started_unix, digest, std::move(r));
          });
}

// Runs one tool call. A journaled run first records that the dispatch of a tool that is not
// idempotent started, so that after a crash its repeat arrives flagged as a redelivery (remote tools
// too: the worker sees the flag). (Workflow tools journal their own steps.)
void run_tool(self_ptr self, std::size_t k, std::size_t tool_index, std::string step, ToolCall call,
              bool redelivery) {
  auto& st = self->state;
  const auto& tool = st.agent->options.tools[tool_index].impl();
  if (!journaled(st.ctx) || tool.idempotent || tool.kind == detail::ToolImpl::Kind::workflow) {
    invoke_tool(self, k, tool_index, std::move(step), std::move(call), redelivery);
    return;
  }
  StepRecord marker;
  marker.step_name = dispatch_marker(step);
  marker.kind = JournalStepKind::dispatch;
  marker.name = call.name;
  marker.input_digest = tool_digest(call);
  marker.started_unix_us = unix_us_now();
  commit_step(self, st.ctx, std::move(marker),
              [self, k, tool_index, step = std::move(step), call = std::move(call), redelivery](
                  journal_appended&& appended) mutable {
                if (!committed_or_finish(self, appended, "the dispatch of tool step '" + step + "'")) return;
                invoke_tool(self, k, tool_index, std::move(step), std::move(call), redelivery);
              });
}

// Starts call k of the turn: its recorded result when the journal has it, else the tool.
void launch_call(self_ptr self, std::size_t k, std::size_t tool_index) {
  auto& st = self->state;
  const auto& call = st.conversation.back().tool_calls[k];
  std::string step = turn_prefix(st) + "/tool-" + std::to_string(k);
  if (!st.ctx.replay) {
    run_tool(self, k, tool_index, std::move(step), call, false);
    return;
  }
  const auto started = now_us();
  consult_replay(self, st.ctx, replay_lookup{step, JournalStepKind::tool, tool_digest(call), {}, false},
                 [self, k, tool_index, step, call, started](replay_answer&& answer) mutable {
                   if (!replay_goes_on(self, answer)) return;
                   if (!answer.found) {
                     run_tool(self, k, tool_index, std::move(step), std::move(call), answer.dispatched);
                     return;
                   }
                   tool_result r{std::move(answer.step.output), answer.step.is_error, answer.step.usage, {}};
                   take_tool_result(self, k, step, call.name, started, r, true);
                 });
}

// Calls of sequential-only tools run one at a time, in call order (other calls run meanwhile).
void launch_next_sequential(self_ptr self) {
  auto& st = self->state;
  if (st.finished || st.sequential_running != kNone || st.sequential_queue.empty()) return;
  const auto [k, tool_index] = st.sequential_queue.front();
  st.sequential_queue.pop_front();
  st.sequential_running = k;
  launch_call(self, k, tool_index);
}

// Why call k may not run, or empty: the user may not call the tool (policy), or the arguments do
// not match the tool's parameters schema. Either answer goes back to the model at once.
std::string refuse_or_reject(const AgentRunState& st, const ToolCall& call, const detail::ToolImpl& tool, bool& denied) {
  if (st.compiled->policy)
    if (auto refusal = st.compiled->policy->refusal(st.ctx.user_id, call.name)) {
      denied = true;
      return *refusal;
    }
  if (!tool.parameters) return {};
  const auto first = call.arguments.find_first_not_of(" \t\r\n");
  const auto args = first == std::string::npos ? nlohmann::json::object()  // "" means no arguments
                                               : nlohmann::json::parse(call.arguments, nullptr, false);
  if (args.is_discarded()) return "invalid arguments for tool '" + call.name + "': not valid JSON";
  if (auto violation = validate_json(*tool.parameters, args))
    return "invalid arguments for tool '" + call.name + "': " + violation->to_string();
  return {};
}

// Call k is answered without running anything: an unknown tool, a refusal, bad arguments.
void answer_at_once(self_ptr self, std::size_t k, const std::string& prefix, const std::string& name,
                    std::string content, bool denied) {
  auto& st = self->state;
  auto& r = st.tool_results[k];
  r.is_error = true;
  r.content = std::move(content);
  st.result.usage.tool_errors += 1;
  TraceStep step{prefix + "/tool-" + std::to_string(k), StepKind::tool, name, false, r.content, 0, {}};
  step.denied = denied;
  emit_tool_finished(st.ctx, step.step_name, st.conversation.back().tool_calls[k], false, r.content, 0, false);
  st.result.trace.push_back(std::move(step));
  --st.tools_pending;
}

void dispatch_tools(self_ptr self) {
  auto& st = self->state;
  // Stable while this loop runs: results arrive, and the conversation grows, only afterwards.
  const auto& calls = st.conversation.back().tool_calls;
  st.tool_results.assign(calls.size(), tool_result{});
  st.tools_pending = calls.size();
  st.sequential_queue.clear();
  st.sequential_running = kNone;
  const std::string prefix = turn_prefix(st);
  for (std::size_t k = 0; k < calls.size(); ++k) {
    st.result.usage.tool_calls += 1;
    emit_tool_started(st.ctx, prefix + "/tool-" + std::to_string(k), calls[k]);
    auto found = st.agent->tool_index.find(calls[k].name);
    if (found == st.agent->tool_index.end()) {
      std::string known;
      for (const auto& spec : st.agent->tool_specs) known += (known.empty() ? "" : ", ") + spec.name;
      answer_at_once(self, k, prefix, calls[k].name,
                     "unknown tool '" + calls[k].name + "'; available tools: " + (known.empty() ? "none" : known), false);
      continue;
    }
    bool denied = false;
    if (auto why = refuse_or_reject(st, calls[k], st.agent->options.tools[found->second].impl(), denied); !why.empty()) {
      answer_at_once(self, k, prefix, calls[k].name, std::move(why), denied);
      continue;
    }
    if (st.agent->options.tools[found->second].impl().sequential)
      st.sequential_queue.emplace_back(k, found->second);
    else
      launch_call(self, k, found->second);
  }
  launch_next_sequential(self);
  if (st.tools_pending == 0) finish_tools(self);  // every call named an unknown tool
}

// A streamed run gets the model's text as it is generated; a provider that did not stream it (or a
// replayed answer) reports it here, whole.
void report_text(AgentRunState& st, const std::string& step, const std::string& text, bool replayed) {
  auto sink = std::exchange(st.text_sink, nullptr);
  if (!st.ctx.events || text.empty() || (sink && sink->delivered() && !replayed)) return;
  RunEvent event;
  event.kind = EventKind::text_delta;
  event.path = step;
  event.name = st.agent->options.name;
  event.text = text;
  event.replayed = replayed;
  st.ctx.events->push(std::move(event));
}

// The model answered (or its recorded answer was replayed): a final answer, tool calls, or an error.
void take_model_result(self_ptr self, const std::string& step, std::uint64_t started, model_result& r, bool replayed) {
  auto& st = self->state;
  st.model_call_in_flight.clear();
  r.response.usage.model_calls = 1;
  st.result.usage += r.response.usage;
  st.result.trace.push_back(TraceStep{step, StepKind::model, st.agent->options.model.name, !r.failed(),
                                      r.failed() ? r.error.message : std::string(), now_us() - started,
                                      r.response.usage, replayed});
  if (r.failed()) {
    finish(self, Error{r.error.code, who(st) + ": " + r.error.message}, {});
    return;
  }
  r.response.message.role = Role::assistant;
  if (!r.response.refusal.empty()) {  // a refusal is not an answer, whatever the text says
    finish(self, Error{ErrorCode::model_error, who(st) + ": the model refused: " + r.response.refusal}, {});
    return;
  }
  const bool cut_off = r.response.finish_reason == "length";
  report_text(st, step, r.response.message.content, replayed);
  st.conversation.push_back(std::move(r.response.message));
  if (!st.conversation.back().tool_calls.empty()) {
    dispatch_tools(self);
    return;
  }
  std::string answer = st.conversation.back().content;
  if (cut_off && !st.agent->options.output_schema.empty()) {
    finish(self, Error{ErrorCode::output_schema_violation,
                       who(st) + ": the structured answer was cut off at the model's max_tokens"},
           {});
    return;
  }
  if (auto ok = check_output(st, answer); !ok) {
    finish(self, ok.error(), {});
    return;
  }
  if (st.ctx.events && !st.agent->options.output_schema.empty()) {
    RunEvent event;
    event.kind = EventKind::structured_output;
    event.path = st.step;
    event.name = st.agent->options.name;
    event.data = answer;
    st.ctx.events->push(std::move(event));
  }
  finish(self, Error{ErrorCode::ok, {}}, std::move(answer));
}

// Calls the model; in a journaled run its answer is committed before the run acts on it.
void call_model(self_ptr self, std::string step, ModelRequest request, std::uint64_t digest) {
  auto& st = self->state;
  st.model_call_in_flight = request.call_id;
  const auto started = now_us();
  const auto started_unix = unix_us_now();
  self->request(st.compiled->model, caf::infinite, model_call{st.ctx, std::move(request)})
      .then(
          [self, step, started, started_unix, digest](model_result& r) {
            auto& st = self->state;
            if (st.finished) return;
            if (r.failed() || !journaled(st.ctx)) {
              take_model_result(self, step, started, r, false);
              return;
            }
            StepRecord record;
            record.step_name = step;
            record.kind = JournalStepKind::model;
            record.name = st.agent->options.model.name;
            record.input_digest = digest;
            record.response = r.response;
            record.usage = r.response.usage;
            record.started_unix_us = started_unix;
            record.duration_us = static_cast<std::int64_t>(now_us() - started);
            commit_step(self, st.ctx, std::move(record), [self, step, started](journal_appended&& appended) {
              if (!committed_or_finish(self, appended, "model step '" + step + "'")) return;
              model_result committed;
              committed.response = std::move(appended.step.response);
              committed.response.usage = appended.step.usage;
              take_model_result(self, step, started, committed, false);
            });
          },
          [self](caf::error& err) {
            finish(self, Error{ErrorCode::internal, who(self->state) + ": the model actor did not answer: " +
                                                        caf::to_string(err)},
                   {});
          });
}

void next_turn(self_ptr self) {
  auto& st = self->state;
  const auto& opts = st.agent->options;
  if (st.turn >= opts.max_turns) {
    finish(self,
           Error{ErrorCode::max_turns_exceeded, "agent '" + opts.name + "' exceeded max_turns = " +
                                                    std::to_string(opts.max_turns) + " (step '" + st.step +
                                                    "') without a final answer"},
           {});
    return;
  }
  ++st.turn;
  std::string step = turn_prefix(st) + "/model";
  ModelRequest request{opts.model.name, opts.name, step, st.ctx.session_id.str() + "/" + step, st.conversation,
                       st.agent->tool_specs, opts.output_schema, nullptr};
  if (st.ctx.events) {
    st.text_sink = std::make_shared<ModelTextSink>(st.ctx.events, step, opts.name);
    request.text_sink = st.text_sink;
  }
  if (!journaled(st.ctx)) {
    call_model(self, std::move(step), std::move(request), 0);
    return;
  }
  const auto digest = request_digest(request);
  const auto started = now_us();
  consult_replay(self, st.ctx, replay_lookup{step, JournalStepKind::model, digest, {}, false},
                 [self, step, digest, started, request = std::move(request)](replay_answer&& answer) mutable {
                   if (!replay_goes_on(self, answer)) return;
                   if (!answer.found) {
                     call_model(self, std::move(step), std::move(request), digest);
                     return;
                   }
                   model_result r;
                   r.response = std::move(answer.step.response);
                   r.response.usage = answer.step.usage;
                   take_model_result(self, step, started, r, true);
                 });
}

run_actor::behavior_type agent_run(self_ptr self, std::shared_ptr<const detail::AgentImpl> agent,
                                   std::shared_ptr<const CompiledAgent> compiled, RunCompletion on_done) {
  auto& st = self->state;
  st.agent = std::move(agent);
  st.compiled = std::move(compiled);
  st.on_done = std::move(on_done);
  return {
      [self](node_call& call) -> caf::typed_response_promise<node_result> {
        auto& st = self->state;
        if (!accept_start(self, st)) return st.promise;
        st.ctx = std::move(call.ctx);
        st.step = std::move(call.step);
        join_run(self, st.ctx, static_cast<bool>(st.on_done), [self] {
          finish(self, Error{ErrorCode::cancelled, who(self->state) + ": stopped because its run ended first"}, {});
        });
        if (!st.agent->options.instructions.empty())
          st.conversation.push_back(Message::system(st.agent->options.instructions));
        for (auto& earlier : call.history) st.conversation.push_back(std::move(earlier));
        st.conversation.push_back(Message::user(std::move(call.input)));
        next_turn(self);
        return st.promise;
      },
      [self](cancel_atom) { finish(self, Error{ErrorCode::cancelled, who(self->state) + ": the run was cancelled"}, {}); },
      [self](deadline_atom) {
        finish(self, Error{ErrorCode::deadline_exceeded, who(self->state) + ": the run exceeded its deadline"}, {});
      },
      [self](fail_atom, Error& error) { finish(self, std::move(error), {}); },
  };
}

}  // namespace

run_actor spawn_agent_run(caf::actor_system& sys, std::shared_ptr<const detail::AgentImpl> agent,
                          std::shared_ptr<const CompiledAgent> compiled, RunCompletion on_done) {
  // lazy_init: the actor is scheduled by its first message, not once more at spawn.
  return sys.spawn<caf::lazy_init>(agent_run, std::move(agent), std::move(compiled), std::move(on_done));
}

}  // namespace loomflow::actors
