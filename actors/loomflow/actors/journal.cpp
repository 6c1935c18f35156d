// The journal actor (one per store, on its own thread: commits fsync) and the replay actor (one per
// resumed run).
//
// Group commit falls out of the mailbox: an append queues its step and, unless one is pending,
// sends this actor a flush message. Everything that arrives before that flush is processed joins
// the batch, so concurrent runs share one sync, and a single run pays one sync per step.
#include <unordered_map>

#include <caf/all.hpp>

#include "loomflow/actors/journaling.hpp"
#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

std::int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct JournalState {
  std::shared_ptr<JournalStore> store;
  JournalBatch pending;
  std::unordered_map<std::string, std::size_t> pending_sessions;  // session → index in pending.sessions
  std::vector<std::pair<std::size_t, caf::typed_response_promise<journal_appended>>> waiters;
  std::unordered_map<std::string, SessionInfo> open;  // sessions of the runs in flight
  bool flush_scheduled = false;

  static inline const char* name = "loomflow.journal";
};

using journal_ptr = journal_actor::stateful_pointer<JournalState>;

void schedule_flush(journal_ptr self) {
  if (std::exchange(self->state.flush_scheduled, true)) return;
  self->send(self, journal_flush_atom::value);
}

void queue_session(journal_ptr self, SessionInfo info) {
  auto& st = self->state;
  auto [it, fresh] = st.pending_sessions.emplace(info.session_id.str(), st.pending.sessions.size());
  if (fresh)
    st.pending.sessions.push_back(std::move(info));
  else
    st.pending.sessions[it->second] = std::move(info);  // the later state of the session wins
  schedule_flush(self);
}

void flush(journal_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty()) return;
  JournalBatch batch = std::move(st.pending);
  st.pending = JournalBatch{};
  st.pending_sessions.clear();
  auto waiters = std::move(st.waiters);
  st.waiters.clear();
  auto committed = st.store->commit(std::move(batch));
  for (auto& [index, promise] : waiters) {
    if (committed)
      promise.deliver(journal_appended{Error{ErrorCode::ok, {}}, std::move((*committed)[index])});
    else
      promise.deliver(journal_appended{committed.error(), {}});
  }
}

void fail_run(journal_ptr self, const caf::actor& root, Error error) {
  self->send(caf::actor_cast<run_actor>(root), fail_atom::value, std::move(error));
}

// Opens the session of a starting run and starts it, or fails it.
void start_run(journal_ptr self, journal_start& start) {
  auto& st = self->state;
  const SessionId session = start.info.session_id;
  auto history = st.store->load(session);
  if (!history) {
    fail_run(self, start.root, history.error());
    return;
  }
  SessionInfo info = std::move(start.info);
  info.created_unix_ms = unix_ms();
  if (const auto& known = history->info) {
    if (known->user_id != info.user_id) {
      fail_run(self, start.root, Error{ErrorCode::permission_denied,
                                       "session '" + session.str() + "' belongs to another user"});
      return;
    }
    if (known->target != info.target || known->input != info.input) {
      fail_run(self, start.root,
               Error{ErrorCode::journal_divergence,
                     "session '" + session.str() + "' was started as '" + known->target + "' with another input; " +
                         "resume it with the same workflow and input, or use a new session id"});
      return;
    }
    info.created_unix_ms = known->created_unix_ms;
    if (info.origin.empty()) info.origin = known->origin;
  }
  info.status = SessionStatus::running;
  info.updated_unix_ms = unix_ms();
  st.open[session.str()] = info;
  queue_session(self, std::move(info));
  node_call call = std::move(start.call);
  call.ctx.journal = caf::actor_cast<caf::actor>(self);
  if (!history->steps.empty())
    call.ctx.replay = caf::actor_cast<caf::actor>(spawn_replay(self->system(), session, std::move(history->steps), start.root));
  // Anonymous: the run answers its completion, not this actor.
  caf::anon_send(caf::actor_cast<run_actor>(start.root), std::move(call));
}

journal_actor::behavior_type journal_writer(journal_ptr self, std::shared_ptr<JournalStore> store) {
  self->state.store = std::move(store);
  return {
      [self](journal_start& start) { start_run(self, start); },
      [self](journal_append& append) -> caf::typed_response_promise<journal_appended> {
        auto& st = self->state;
        auto promise = self->make_response_promise<journal_appended>();
        st.waiters.emplace_back(st.pending.steps.size(), promise);
        st.pending.steps.emplace_back(std::move(append.session), std::move(append.step));
        schedule_flush(self);
        return promise;
      },
      [self](journal_finish& finish) {
        auto& st = self->state;
        auto it = st.open.find(finish.info.session_id.str());
        if (it == st.open.end()) return;  // the run never opened its session (refused at the start)
        SessionInfo info = std::move(it->second);
        st.open.erase(it);
        info.status = finish.info.status;
        info.output = std::move(finish.info.output);
        info.error = std::move(finish.info.error);
        info.usage = finish.info.usage;
        info.updated_unix_ms = unix_ms();
        queue_session(self, std::move(info));
      },
      [self](journal_flush_atom) { flush(self); },
      [self](journal_stop_atom) {
        flush(self);
        self->quit();
      },
  };
}

// ---- replay ------------------------------------------------------------------------------------------

struct ReplayState {
  SessionId session;
  std::unordered_map<std::string, StepRecord> steps;
  std::unordered_map<std::string, std::vector<std::string>> successors;  // node steps by predecessor

  static inline const char* name = "loomflow.replay";
};

using replay_ptr = replay_actor::stateful_pointer<ReplayState>;

replay_answer diverged(const ReplayState& st, const std::string& what) {
  return replay_answer{Error{ErrorCode::journal_divergence,
                             "session '" + st.session.str() + "': the resumed run diverged from its journal: " + what +
                                 " (a non-deterministic router or function, or a changed workflow)"},
                       false, {}};
}

std::string recorded_list(const std::vector<std::string>& steps) {
  std::string out;
  for (const auto& s : steps) out += (out.empty() ? "'" : ", '") + s + "'";
  return out;
}

replay_answer look_up(const ReplayState& st, const replay_lookup& q) {
  // The end of a (sub)workflow: nothing may have been recorded after its last step.
  if (q.step.empty()) {
    auto next = st.successors.find(q.predecessor);
    if (next != st.successors.end())
      return diverged(st, "the run now ends after '" + q.predecessor + "', but the journal recorded " +
                              recorded_list(next->second) + " after it");
    return {};
  }
  auto it = st.steps.find(q.step);
  if (it == st.steps.end()) {
    if (q.kind == JournalStepKind::tool) {
      replay_answer answer;
      answer.dispatched = st.steps.count(dispatch_marker(q.step)) > 0;
      return answer;
    }
    if (q.kind == JournalStepKind::node && !q.branch) {
      auto next = st.successors.find(q.predecessor);
      if (next != st.successors.end())
        return diverged(st, "after '" + (q.predecessor.empty() ? std::string("the start") : q.predecessor) +
                                "' the run now goes to '" + q.step + "', but the journal recorded " +
                                recorded_list(next->second));
    }
    return {};
  }
  const StepRecord& rec = it->second;
  if (rec.kind != q.kind)
    return diverged(st, "step '" + q.step + "' was journaled as a " + std::string(to_string(rec.kind)) +
                            " step and is now a " + std::string(to_string(q.kind)) + " step");
  if (rec.input_digest != q.input_digest)
    return diverged(st, "step '" + q.step + "' now gets another input than the journaled run gave it");
  if (q.kind == JournalStepKind::node && rec.predecessor != q.predecessor)
    return diverged(st, "step '" + q.step + "' now follows '" + q.predecessor + "' but followed '" + rec.predecessor +
                            "' in the journal");
  return replay_answer{Error{ErrorCode::ok, {}}, true, rec};
}

replay_actor::behavior_type replay_log(replay_ptr self, SessionId session, std::vector<StepRecord> steps,
                                       caf::actor root) {
  auto& st = self->state;
  st.session = std::move(session);
  for (auto& step : steps) {
    if (step.kind == JournalStepKind::node) st.successors[step.predecessor].push_back(step.step_name);
    std::string name = step.step_name;
    st.steps.emplace(std::move(name), std::move(step));
  }
  // The log lives as long as its run.
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  self->monitor(root);
  return {
      [self](replay_lookup& q) { return look_up(self->state, q); },
  };
}

}  // namespace

journal_actor spawn_journal(caf::actor_system& sys, std::shared_ptr<JournalStore> store) {
  return sys.spawn<caf::detached>(journal_writer, std::move(store));
}

replay_actor spawn_replay(caf::actor_system& sys, SessionId session, std::vector<StepRecord> steps, caf::actor root) {
  return sys.spawn(replay_log, std::move(session), std::move(steps), std::move(root));
}

}  // namespace loomflow::actors
