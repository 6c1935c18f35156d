// loomflow/actors/interfaces.hpp — every internal actor interface of Loomflow, in one place.
//
//   node_actor     runs one node_call: a node visit, an agent run or a whole sub-workflow run
//   run_actor      a per-run node_actor (coordinator or agent run) that can also be cancelled
//   step_actor     a workflow node (function, agent or sub-workflow), shared by all runs: answers
//                  node_calls (parallel branches) and passes run tokens along the graph
//   coordinator_actor  a workflow run's coordinator: starts the token and takes it back
//   model_actor    a provider endpoint: one model call per request; asynchronous providers
//                  answer later through model_done, and can be told to abandon a call
//   tool_actor     a tool: one dispatch per request; concurrent requests run concurrently
//   journal_actor  a journal store's single writer: opens sessions, commits steps in groups (one
//                  sync for every step that arrived meanwhile) on its own sync thread
//   replay_actor   a resumed run's recorded steps: answers whether a step was journaled
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "loomflow/actors/messages.hpp"

namespace loomflow::actors {

using node_actor = caf::typed_actor<caf::replies_to<node_call>::with<node_result>>;
using run_actor = node_actor::extend<caf::reacts_to<cancel_atom>, caf::reacts_to<deadline_atom>,
                                     caf::reacts_to<fail_atom, Error>>;
// A workflow node also takes the run token: it runs, then passes the token on.
using step_actor = node_actor::extend<caf::reacts_to<run_token>>;
// A workflow run's coordinator also takes its token back.
using coordinator_actor = run_actor::extend<caf::reacts_to<run_token>>;
// `model_done` is how an asynchronous provider's completion re-enters the model actor.
using model_actor = caf::typed_actor<caf::replies_to<model_call>::with<model_result>,
                                     caf::reacts_to<model_done_atom, std::uint64_t, model_result>,
                                     caf::reacts_to<model_cancel_atom, std::string>>;
using tool_actor = caf::typed_actor<caf::replies_to<tool_invocation>::with<tool_result>>;
using journal_actor = caf::typed_actor<caf::reacts_to<journal_start>,
                                       caf::replies_to<journal_append>::with<journal_appended>,
                                       caf::reacts_to<journal_finish>, caf::reacts_to<journal_stop_atom>,
                                       caf::reacts_to<journal_loaded>, caf::reacts_to<journal_committed>>;
using replay_actor = caf::typed_actor<caf::replies_to<replay_lookup>::with<replay_answer>>;

}  // namespace loomflow::actors
