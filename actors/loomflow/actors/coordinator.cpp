// The run coordinator: one per workflow run. It starts the run token, takes it back when the run
// ends or fails, runs parallel groups (branches answer node_calls; the merge feeds the join), and
// answers the node_call that started the run. Cancellation and deadlines end the run here.
#include <caf/all.hpp>

#include "loomflow/actors/journaling.hpp"
#include "loomflow/actors/run_scope.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/actors/stepping.hpp"

namespace loomflow::actors {

namespace {

using detail::Successor;

struct CoordinatorState {
  std::shared_ptr<const detail::WorkflowImpl> wf;
  std::shared_ptr<const CompiledWorkflow> compiled;
  RunCompletion on_done;
  caf::typed_response_promise<node_result> promise;
  bool started = false;
  bool finished = false;
  run_token token;  // held here at the start and end, and while a parallel group runs
  // The parallel group in flight.
  std::vector<BranchOutput> branch_outputs;
  std::string last_branch_step;  // the join's predecessor, for the journal
  std::size_t branches_pending = 0;
  bool end_checked = false;      // a resumed run checked its end against the journal

  static inline const char* name = "loomflow.coordinator";
};

using self_ptr = coordinator_actor::stateful_pointer<CoordinatorState>;

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

void finish(self_ptr self, Error error, std::string output) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  node_result result = std::move(st.token.acc);
  result.error = std::move(error);
  result.output = std::move(output);
  hand_over(st.on_done, st.promise, std::move(result));
  self->quit();
}

void run_parallel(self_ptr self);

// Acts on a token that is here: the run ended or failed, a parallel group is due, or the token
// moves on to its next node.
void dispatch(self_ptr self, run_token&& token) {
  auto& st = self->state;
  if (token.acc.failed()) {
    Error error = std::move(token.acc.error);
    st.token = std::move(token);
    finish(self, std::move(error), {});
    return;
  }
  if (token.node == run_token::kFinished) {
    if (token.ctx.replay && !st.end_checked) {
      // Ending here must agree with the journal too: a router that now picks the end instead of
      // the recorded next node has diverged.
      st.end_checked = true;
      auto held = std::make_shared<run_token>(std::move(token));
      auto ctx = held->ctx;
      consult_replay(self, ctx, replay_lookup{{}, JournalStepKind::node, 0, held->last_step, false},
                     [self, held](replay_answer&& answer) {
                       if (answer.error.code != ErrorCode::ok) fail_token(*held, std::move(answer.error));
                       dispatch(self, std::move(*held));
                     });
      return;
    }
    std::string output = std::move(token.input);
    st.token = std::move(token);
    finish(self, Error{ErrorCode::ok, {}}, std::move(output));
    return;
  }
  if (token.node == run_token::kParallel) {
    st.token = std::move(token);
    run_parallel(self);
    return;
  }
  self->send(st.compiled->nodes[static_cast<std::size_t>(token.node)], std::move(token));
}

void join_branches(self_ptr self, const Successor& group) {
  auto& st = self->state;
  Expected<std::string> merged = Error{ErrorCode::internal, {}};
  try {
    merged = group.merge(st.branch_outputs);
  } catch (const std::exception& e) {
    merged = Error{ErrorCode::internal, std::string("threw an exception: ") + e.what()};
  }
  st.branch_outputs.clear();
  if (!merged) {
    finish(self, Error{merged.error().code, "workflow " + squote(st.wf->name) + ": merging the parallel branches into " +
                                                squote(group.join) + " failed: " + merged.error().message},
           {});
    return;
  }
  run_token token = std::move(st.token);
  token.input = std::move(*merged);
  if (journaled(token.ctx)) token.last_step = std::move(st.last_branch_step);
  if (claim_visit(*st.wf, group.join_index, token)) token.node = group.join_index;
  dispatch(self, std::move(token));
}

void run_parallel(self_ptr self) {
  auto& st = self->state;
  auto& token = st.token;
  const Successor& group = token.parallel_from < 0 ? st.wf->start
                                                   : st.wf->successors[static_cast<std::size_t>(token.parallel_from)];
  st.branches_pending = group.branch_index.size();
  st.branch_outputs.assign(group.branch_index.size(), BranchOutput{});
  // Claim every branch first (declaration order in `visited`), then start them all.
  std::vector<std::string> steps;
  for (int idx : group.branch_index) {
    if (!claim_visit(*st.wf, idx, token)) {
      dispatch(self, std::move(token));
      return;
    }
    steps.push_back(step_name(*st.wf, token, idx));
  }
  st.last_branch_step = steps.empty() ? std::string() : steps.back();
  for (std::size_t i = 0; i < group.branch_index.size(); ++i) {
    const int idx = group.branch_index[i];
    const auto& name = st.wf->nodes[static_cast<std::size_t>(idx)]->name;
    st.branch_outputs[i].branch = name;
    const auto started = now_us();
    self->request(st.compiled->nodes[static_cast<std::size_t>(idx)], caf::infinite,
                  node_call{token.ctx, steps[i], token.input, token.last_step})
        .then(
            [self, &group, i, name, step = steps[i], started](node_result& r) {
              auto& st = self->state;
              if (st.finished) return;
              absorb_node_result(name, step, started, r, st.token);
              if (st.token.acc.failed()) {
                dispatch(self, std::move(st.token));
                return;
              }
              st.branch_outputs[i].output = std::move(r.output);
              if (--st.branches_pending == 0) join_branches(self, group);
            },
            [self, name](caf::error& err) {
              finish(self, Error{ErrorCode::internal, "workflow " + squote(self->state.wf->name) + ": branch " +
                                                          squote(name) + " did not answer: " + caf::to_string(err)},
                     {});
            });
  }
}

coordinator_actor::behavior_type coordinator(self_ptr self, std::shared_ptr<const detail::WorkflowImpl> wf,
                                             std::shared_ptr<const CompiledWorkflow> compiled, RunCompletion on_done) {
  auto& st = self->state;
  st.wf = std::move(wf);
  st.compiled = std::move(compiled);
  st.on_done = std::move(on_done);
  return {
      [self](node_call& call) -> caf::typed_response_promise<node_result> {
        auto& st = self->state;
        if (!accept_start(self, st)) return st.promise;
        run_token token;
        token.ctx = std::move(call.ctx);
        join_run(self, token.ctx, static_cast<bool>(st.on_done), [self] {
          finish(self, Error{ErrorCode::cancelled,
                             "workflow " + squote(self->state.wf->name) + ": stopped because its run ended first"},
                 {});
        });
        token.coordinator = caf::actor_cast<caf::actor>(self);
        token.prefix = call.step.empty() ? std::string() : call.step + "/";
        if (journaled(token.ctx)) token.last_step = token.prefix;  // the scope's start
        token.visits.assign(st.wf->nodes.size(), 0);
        advance(*st.wf, -1, std::move(call.input), token);
        dispatch(self, std::move(token));
        return st.promise;
      },
      [self](run_token& token) {
        if (!self->state.finished) dispatch(self, std::move(token));
      },
      [self](cancel_atom) {
        finish(self, Error{ErrorCode::cancelled, "workflow " + squote(self->state.wf->name) + ": the run was cancelled"},
               {});
      },
      [self](deadline_atom) {
        finish(self, Error{ErrorCode::deadline_exceeded,
                           "workflow " + squote(self->state.wf->name) + ": the run exceeded its deadline"},
               {});
      },
      [self](fail_atom, Error& error) { finish(self, std::move(error), {}); },
  };
}

}  // namespace

run_actor spawn_coordinator(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                            std::shared_ptr<const CompiledWorkflow> compiled, RunCompletion on_done) {
  // lazy_init: the actor is scheduled by its first message, not once more at spawn.
  return caf::actor_cast<run_actor>(sys.spawn<caf::lazy_init>(coordinator, std::move(workflow), std::move(compiled), std::move(on_done)));
}

}  // namespace loomflow::actors
