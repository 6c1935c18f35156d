// The journal actor (one per store) and the replay actor (one per resumed run).
//
// The journal actor runs on the scheduler and never blocks: loads and commits run on its own
// SyncThread, which reports back with a message. Group commit: while one batch syncs, the steps
// that arrive wait in the next batch, which goes as soon as the sync thread is free — so
// concurrent runs share syncs, and a single run pays one sync per step with no extra wait.
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>

#include "loomflow/actors/hot_worker_policy.hpp"
#include "loomflow/actors/journaling.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/actors/sync_thread.hpp"
#include "loomflow/journal/history.hpp"

namespace loomflow::actors {

namespace {

// How long the sync thread polls for the next job before it parks.
constexpr std::chrono::microseconds kSyncSpin{200};

using Waiter = caf::typed_response_promise<journal_appended>;

struct JournalState {
  std::shared_ptr<JournalStore> store;
  std::unique_ptr<SyncThread> sync;
  std::optional<AwaitedReplies> awaited;  // a commit or load is on the sync thread: its answer is µs away
  JournalBatch pending;
  std::unordered_map<std::string, std::size_t> pending_sessions;  // session → index in pending.sessions
  std::vector<std::pair<std::size_t, Waiter>> waiters;            // of pending steps
  std::vector<std::pair<std::size_t, Waiter>> committing;         // of the batch the sync thread has
  bool busy = false;                                              // a commit is on the sync thread
  bool stopping = false;
  std::unordered_map<std::string, SessionInfo> open;  // sessions of the runs in flight

  static inline const char* name = "loomflow.journal";
};

using journal_ptr = journal_actor::stateful_pointer<JournalState>;

// Hands the pending batch to the sync thread unless it is busy (then it goes when that commit is
// done, with whatever arrived meanwhile).
void commit_pending(journal_ptr self) {
  auto& st = self->state;
  if (st.busy || st.pending.empty()) return;
  st.busy = true;
  st.committing = std::move(st.waiters);
  st.waiters.clear();
  st.awaited->add();
  auto batch = std::make_shared<JournalBatch>(std::move(st.pending));
  st.pending = JournalBatch{};
  st.pending_sessions.clear();
  st.sync->post([store = st.store, batch, me = caf::actor_cast<journal_actor>(self)] {
    auto committed = store->commit(std::move(*batch));
    journal_committed out;
    if (committed)
      out.steps = std::move(*committed);
    else
      out.error = committed.error();
    caf::anon_send(me, std::move(out));
  });
}

void queue_session(journal_ptr self, SessionInfo info) {
  auto& st = self->state;
  auto [it, fresh] = st.pending_sessions.emplace(info.session_id.str(), st.pending.sessions.size());
  if (fresh)
    st.pending.sessions.push_back(std::move(info));
  else
    st.pending.sessions[it->second] = std::move(info);  // the later state of the session wins
  commit_pending(self);
}

void fail_run(const caf::actor& root, Error error) {
  caf::anon_send(caf::actor_cast<run_actor>(root), fail_atom::value, std::move(error));
}

// A starting run's session was read: check it may run, open it, and start the run.
void start_run(journal_ptr self, journal_loaded& loaded) {
  auto& st = self->state;
  journal_start& start = loaded.start;
  const SessionId session = start.info.session_id;
  if (loaded.error.code != ErrorCode::ok) {
    fail_run(start.root, std::move(loaded.error));
    return;
  }
  SessionInfo info = std::move(start.info);
  info.created_unix_ms = journal::unix_ms_now();
  if (loaded.known) {
    const auto& known = loaded.info;
    if (known.user_id != info.user_id) {
      fail_run(start.root, Error{ErrorCode::permission_denied, "session '" + session.str() + "' belongs to another user"});
      return;
    }
    if (known.target != info.target || known.input != info.input) {
      fail_run(start.root,
               Error{ErrorCode::journal_divergence,
                     "session '" + session.str() + "' was started as '" + known.target + "' with another input; " +
                         "resume it with the same workflow and input, or use a new session id"});
      return;
    }
    info.created_unix_ms = known.created_unix_ms;
    if (info.origin.empty()) info.origin = known.origin;
  }
  info.status = SessionStatus::running;
  info.updated_unix_ms = journal::unix_ms_now();
  st.open[session.str()] = info;
  queue_session(self, std::move(info));
  node_call call = std::move(start.call);
  call.ctx.journal = caf::actor_cast<caf::actor>(self);
  if (!loaded.steps.empty())
    call.ctx.replay = caf::actor_cast<caf::actor>(spawn_replay(self->system(), session, std::move(loaded.steps), start.root));
  // Anonymous: the run answers its completion, not this actor.
  caf::anon_send(caf::actor_cast<run_actor>(start.root), std::move(call));
}

void quit_when_done(journal_ptr self) {
  auto& st = self->state;
  if (st.stopping && !st.busy && st.pending.empty()) self->quit();
}

journal_actor::behavior_type journal_writer(journal_ptr self, std::shared_ptr<JournalStore> store) {
  self->state.store = std::move(store);
  self->state.sync = std::make_unique<SyncThread>(kSyncSpin);
  self->state.awaited.emplace(self->system());
  return {
      [self](journal_start& start) {
        auto& st = self->state;
        auto held = std::make_shared<journal_start>(std::move(start));
        st.awaited->add();
        st.sync->post([store = st.store, held, me = caf::actor_cast<journal_actor>(self)] {
          auto history = store->load(held->info.session_id);
          journal_loaded out;
          out.start = std::move(*held);
          if (!history) {
            out.error = history.error();
          } else {
            out.known = history->info.has_value();
            if (out.known) out.info = std::move(*history->info);
            out.steps = std::move(history->steps);
          }
          caf::anon_send(me, std::move(out));
        });
      },
      [self](journal_loaded& loaded) {
        self->state.awaited->done();
        start_run(self, loaded);
      },
      [self](journal_append& append) -> caf::typed_response_promise<journal_appended> {
        auto& st = self->state;
        auto promise = self->make_response_promise<journal_appended>();
        st.waiters.emplace_back(st.pending.steps.size(), promise);
        st.pending.steps.emplace_back(std::move(append.session), std::move(append.step));
        commit_pending(self);
        return promise;
      },
      [self](journal_committed& done) {
        auto& st = self->state;
        st.awaited->done();
        for (auto& [index, promise] : st.committing) {
          if (done.error.code == ErrorCode::ok)
            promise.deliver(journal_appended{Error{ErrorCode::ok, {}}, std::move(done.steps[index])});
          else
            promise.deliver(journal_appended{done.error, {}});
        }
        st.committing.clear();
        st.busy = false;
        commit_pending(self);
        quit_when_done(self);
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
        info.updated_unix_ms = journal::unix_ms_now();
        queue_session(self, std::move(info));
      },
      [self](journal_stop_atom) {
        self->state.stopping = true;
        commit_pending(self);
        quit_when_done(self);
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
  return sys.spawn(journal_writer, std::move(store));
}

replay_actor spawn_replay(caf::actor_system& sys, SessionId session, std::vector<StepRecord> steps, caf::actor root) {
  return sys.spawn(replay_log, std::move(session), std::move(steps), std::move(root));
}

}  // namespace loomflow::actors
