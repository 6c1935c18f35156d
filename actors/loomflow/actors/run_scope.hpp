// loomflow/actors/run_scope.hpp — ties a per-run actor to its run.
//
// The top-level actor of a run (coordinator or agent run) becomes the run's root and stamps itself
// into the run context. Nested per-run actors monitor that root: when the run ends early —
// cancelled, past its deadline, or failed in a sibling branch — they stop too, instead of working
// on for a result nobody will read.
#pragma once

#include <caf/actor_cast.hpp>
#include <caf/system_messages.hpp>

#include <utility>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

template <class Self, class OnRootGone>
void join_run(Self self, run_context& ctx, bool top_level, OnRootGone on_root_gone) {
  if (top_level) {
    ctx.root = caf::actor_cast<caf::actor>(self);
    return;
  }
  if (!ctx.root) return;
  self->set_down_handler([on_root_gone](caf::down_msg&) { on_root_gone(); });
  self->monitor(ctx.root);
}

// Takes the call that starts a per-run actor and makes its promise. A per-run actor serves exactly
// one call: a second one is answered with an error and false is returned.
template <class Self, class State>
bool accept_start(Self self, State& st) {
  st.promise = self->template make_response_promise<node_result>();
  if (std::exchange(st.started, true)) {
    st.promise.deliver(node_result{Error{ErrorCode::internal, "a per-run actor answers exactly one call"}});
    return false;
  }
  return true;
}

// Hands a per-run actor's result over: a top-level run was started with anon_send, so its result
// goes to the completion; a nested one answers its requester.
inline void hand_over(const RunCompletion& on_done, caf::typed_response_promise<node_result>& promise,
                      node_result&& result) {
  if (on_done)
    on_done(std::move(result));
  else
    promise.deliver(std::move(result));
}

}  // namespace loomflow::actors
