// loomflow/actors/journaling.hpp — what a step does around its work when its run is journaled:
// ask the replay log first (a resumed run uses the recorded result instead of running the step
// again), and commit the result before using it (so a crash after this point never repeats it).
// Without a journal both calls continue at once, on the caller's stack.
//
// Both helpers call their continuation exactly once, inside the calling actor.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>

#include "loomflow/actors/interfaces.hpp"

namespace loomflow::actors {

inline bool journaled(const run_context& ctx) noexcept { return static_cast<bool>(ctx.journal); }

// `then(replay_answer&&)`: error = divergence or a lost replay log; found = use answer.step.
template <class Self, class Then>
void consult_replay(Self self, const run_context& ctx, replay_lookup query, Then then) {
  if (!ctx.replay) {
    then(replay_answer{});
    return;
  }
  self->request(caf::actor_cast<replay_actor>(ctx.replay), caf::infinite, std::move(query))
      .then([then](replay_answer& answer) mutable { then(std::move(answer)); },
            [then](caf::error& err) mutable {
              then(replay_answer{Error{ErrorCode::journal_error, "the run's replay log did not answer: " +
                                                                     caf::to_string(err)},
                                 false, {}});
            });
}

// `then(journal_appended&&)`: the committed record (possibly another writer's), or the error that
// kept it from being committed — then the step's result must not be used.
template <class Self, class Then>
void commit_step(Self self, const run_context& ctx, StepRecord step, Then then) {
  if (!ctx.journal) {
    then(journal_appended{Error{ErrorCode::ok, {}}, std::move(step)});
    return;
  }
  self->request(caf::actor_cast<journal_actor>(ctx.journal), caf::infinite,
                journal_append{ctx.session_id, std::move(step)})
      .then([then](journal_appended& appended) mutable { then(std::move(appended)); },
            [then](caf::error& err) mutable {
              then(journal_appended{Error{ErrorCode::journal_error, "the journal did not answer: " + caf::to_string(err)},
                                    {}});
            });
}

// The step name of a non-idempotent tool dispatch's "started" marker: "<tool step>@dispatch".
inline std::string dispatch_marker(const std::string& tool_step) { return tool_step + "@dispatch"; }

// Wall-clock microseconds, for the journal's step timestamps.
inline std::int64_t unix_us_now() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The digest of a model request's inputs: the conversation, the tools and the output schema (not
// the model's name: resuming on another model is allowed).
std::uint64_t request_digest(const ModelRequest& request);

}  // namespace loomflow::actors
