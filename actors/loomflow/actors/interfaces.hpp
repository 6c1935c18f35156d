// loomflow/actors/interfaces.hpp — every internal actor interface of Loomflow, in one place.
//
//   node_actor     a workflow node (function, agent or sub-workflow); also the interface of a run
//                  coordinator and of an agent run, which are spawned per run and answer one call
//   run_actor      a top-level run: a node_actor that can also be cancelled
//   model_actor    a provider endpoint: one model call per request; asynchronous providers
//                  answer later through model_done
//   tool_actor     a tool: one dispatch per request; concurrent requests run concurrently
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "loomflow/actors/messages.hpp"

namespace loomflow::actors {

using node_actor = caf::typed_actor<caf::replies_to<node_call>::with<node_result>>;
using run_actor = node_actor::extend<caf::reacts_to<cancel_atom>, caf::reacts_to<deadline_atom>>;
// `model_done` is how an asynchronous provider's completion re-enters the model actor.
using model_actor = caf::typed_actor<caf::replies_to<model_call>::with<model_result>,
                                     caf::reacts_to<model_done_atom, std::uint64_t, model_result>>;
using tool_actor = caf::typed_actor<caf::replies_to<tool_invocation>::with<tool_result>>;

}  // namespace loomflow::actors
