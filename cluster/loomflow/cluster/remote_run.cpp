// The requester's end of a remote run: placed by the member actor, run on the chosen member, run
// again elsewhere (same session) when that member goes down first.
#include <caf/all.hpp>

#include "loomflow/actors/event_channel.hpp"
#include "loomflow/cluster/member.hpp"

namespace loomflow::cluster {

namespace {

struct RemoteRunState {
  RemoteRunSettings settings;
  actors::RunCompletion done;
  caf::typed_response_promise<actors::node_result> promise;  // of the node_call (a nested use)
  actors::node_call call;
  std::string host;           // the member running it now; empty between attempts
  caf::actor host_handle;
  std::uint32_t attempts = 0;
  std::vector<std::string> lost;  // members that went down running it
  std::string last_loss;
  bool finished = false;
  static inline const char* name = "loomflow.cluster.remote_run";
};

using self_ptr = remote_run_actor::stateful_pointer<RemoteRunState>;

void release(self_ptr self) {
  auto& st = self->state;
  if (st.host.empty()) return;
  self->send(st.settings.member, placed_atom::value, st.host);
  if (st.host_handle) self->demonitor(st.host_handle);
  st.host.clear();
  st.host_handle = nullptr;
}

void end(self_ptr self, actors::node_result result) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  release(self);
  if (st.promise.pending()) st.promise.deliver(result);
  if (st.done) st.done(std::move(result));
  self->quit();
}

void end(self_ptr self, Error error) {
  actors::node_result r;
  r.error = std::move(error);
  end(self, std::move(r));
}

void place(self_ptr self);

// The host is gone before answering: run it elsewhere, with the same session.
void fail_over(self_ptr self, std::string why) {
  auto& st = self->state;
  if (st.finished) return;
  st.lost.push_back(st.host);
  st.last_loss = st.host + ": " + why;
  release(self);
  if (st.attempts >= st.settings.max_attempts) {
    end(self, Error{ErrorCode::unavailable, "'" + st.settings.target + "': started " + std::to_string(st.attempts) +
                                                " times, and every member running it was lost (last: " + st.last_loss +
                                                ")"});
    return;
  }
  place(self);
}

void place(self_ptr self) {
  auto& st = self->state;
  // A preference holds for the first attempt only: after a loss, any member hosting it will do.
  const std::string preferred = st.attempts == 0 ? st.settings.preferred : std::string();
  self->request(st.settings.member, st.settings.place_timeout, place_atom::value, st.settings.target, preferred, st.lost)
      .then(
          [self](placement& p) {
            auto& st = self->state;
            if (st.finished) {
              self->send(st.settings.member, placed_atom::value, p.name);
              return;
            }
            if (p.error.code != ErrorCode::ok) {
              if (!st.last_loss.empty()) p.error.message += "; last lost: " + st.last_loss;
              end(self, std::move(p.error));
              return;
            }
            st.host = p.name;
            st.host_handle = p.member;
            self->monitor(p.member);
            const auto attempt = ++st.attempts;
            // A workflow node's visit is a run of its own on the host: its session is the step's,
            // so the host's journal keeps it apart from the workflow's and a resumed visit finds it.
            const SessionId session = st.call.step.empty()
                                          ? st.call.ctx.session_id
                                          : SessionId(st.call.ctx.session_id.str() + "/" + st.call.step);
            remote_run run{st.settings.target, st.call.input, st.call.ctx.user_id, session, st.call.history,
                           st.call.ctx.events ? caf::actor_cast<caf::actor>(self) : caf::actor{}};
            self->request(caf::actor_cast<member_actor>(p.member), caf::infinite, std::move(run))
                .then(
                    [self, attempt](actors::node_result& r) {
                      if (self->state.attempts == attempt) end(self, std::move(r));
                    },
                    [self, attempt](caf::error& err) {
                      if (self->state.attempts == attempt) fail_over(self, caf::to_string(err));
                    });
          },
          [self](caf::error& err) { end(self, Error{ErrorCode::internal, "placing the run failed: " + caf::to_string(err)}); });
}

// Stops the run where it runs, and ends it here at once (its host may be unreachable).
void stop(self_ptr self, Error why) {
  auto& st = self->state;
  if (st.host_handle)
    self->send(caf::actor_cast<member_actor>(st.host_handle), remote_cancel_atom::value, st.call.ctx.session_id.str());
  end(self, std::move(why));
}

remote_run_actor::behavior_type remote_run_behavior(self_ptr self, RemoteRunSettings settings,
                                                    actors::RunCompletion done) {
  self->state.settings = std::move(settings);
  self->state.done = std::move(done);
  self->set_down_handler([self](caf::down_msg& msg) {
    if (self->state.host_handle && msg.source == self->state.host_handle.address()) {
      fail_over(self, "went down (" + caf::to_string(msg.reason) + ")");
      return;
    }
    // A workflow node's visit: the run it belongs to ended first (cancelled, failed).
    if (self->state.call.ctx.root && msg.source == self->state.call.ctx.root.address())
      stop(self, Error{ErrorCode::cancelled, "'" + self->state.settings.target + "': stopped because its run ended first"});
  });
  return {
      [self](actors::node_call& call) -> caf::typed_response_promise<actors::node_result> {
        self->state.promise = self->make_response_promise<actors::node_result>();
        self->state.call = std::move(call);
        if (self->state.call.ctx.root) self->monitor(self->state.call.ctx.root);
        place(self);
        return self->state.promise;
      },
      [self](actors::cancel_atom) { stop(self, Error{ErrorCode::cancelled, "the run was cancelled"}); },
      [self](actors::deadline_atom) { stop(self, Error{ErrorCode::deadline_exceeded, "the run exceeded its timeout"}); },
      [self](actors::fail_atom, Error& error) { stop(self, std::move(error)); },
      [self](remote_event_atom, RunEvent& event) {
        auto& st = self->state;
        // Only the member running it now speaks for the run.
        const auto& sender = self->current_sender();
        if (!st.call.ctx.events || st.finished || !sender || !st.host_handle ||
            sender->address() != st.host_handle.address())
          return;
        // The run's own start, end and error are reported here, from its result.
        if (event.kind == EventKind::run_started || event.kind == EventKind::run_finished ||
            event.kind == EventKind::error)
          return;
        if (!st.call.step.empty() && !event.path.empty()) event.path = st.call.step + "/" + event.path;
        st.call.ctx.events->push(std::move(event));
      },
  };
}

}  // namespace

remote_run_actor spawn_remote_run(caf::actor_system& system, RemoteRunSettings settings, actors::RunCompletion done) {
  return system.spawn(remote_run_behavior, std::move(settings), std::move(done));
}

}  // namespace loomflow::cluster
