// loomflow/actors/run_scope.hpp — ties a per-run actor to its run.
//
// The top-level actor of a run (coordinator or agent run) becomes the run's root and stamps itself
// into the run context. Nested per-run actors monitor that root: when the run ends early —
// cancelled, past its deadline, or failed in a sibling branch — they stop too, instead of working
// on for a result nobody will read.
#pragma once

#include <caf/actor_cast.hpp>
#include <caf/system_messages.hpp>

#include "loomflow/actors/messages.hpp"

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

}  // namespace loomflow::actors
