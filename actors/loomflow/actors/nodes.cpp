// Shared node actors: one per workflow node, used by every run of the workflow. They keep no
// per-run state: a run token carries it from node to node, so a step costs one message. A node
// also answers plain node_calls — that is how a parallel group runs its branches.
#include <caf/all.hpp>

#include "loomflow/actors/event_channel.hpp"
#include "loomflow/actors/journaling.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/actors/stepping.hpp"

namespace loomflow::actors {

namespace {

node_result run_function(const detail::NodeImpl& node, const run_context& run, const std::string& step,
                         std::string_view input) {
  NodeContext ctx{input, run.user_id, run.session_id, step};
  node_result result;
  Expected<std::string> out = Error{ErrorCode::internal, {}};
  try {
    out = node.fn(ctx);
  } catch (const std::exception& e) {
    // A throwing user function must not take the actor down with it.
    out = Error{ErrorCode::internal, std::string("threw an exception: ") + e.what()};
  }
  if (out)
    result.output = std::move(*out);
  else
    result.error = Error{out.error().code, "node '" + node.name + "' (step '" + step + "'): " + out.error().message};
  return result;
}

// Runs one blocking function call off the cooperative scheduler, then quits.
node_actor::behavior_type blocking_function_worker(node_actor::pointer self, std::shared_ptr<const detail::NodeImpl> node) {
  return {
      [self, node](node_call& call) {
        self->quit();
        return run_function(*node, call.ctx, call.step, call.input);
      },
  };
}

// Everything a node actor knows: its place in the compiled workflow.
struct NodePlace {
  std::shared_ptr<const detail::WorkflowImpl> wf;
  std::shared_ptr<const CompiledWorkflow> compiled;  // filled before any run starts
  std::int32_t index = 0;
  const detail::NodeImpl& node() const { return *wf->nodes[static_cast<std::size_t>(index)]; }
};

// The actor that does this node's work for one call when it is not a cheap inline function:
// a detached worker, an agent run, or a sub-workflow run.
node_actor spawn_worker(step_actor::pointer self, const detail::NodeImpl& node,
                        const std::shared_ptr<const CompiledWorkflow>& compiled, std::int32_t index) {
  switch (node.kind) {
    case detail::NodeImpl::Kind::function:
      return self->spawn<caf::detached>(blocking_function_worker, compiled->definitions[static_cast<std::size_t>(index)]);
    case detail::NodeImpl::Kind::agent:
      return caf::actor_cast<node_actor>(spawn_agent_run(self->system(), node.agent,
                                                         compiled->agents[static_cast<std::size_t>(index)]));
    case detail::NodeImpl::Kind::workflow:
      return caf::actor_cast<node_actor>(spawn_coordinator(self->system(), node.workflow,
                                                           compiled->workflows[static_cast<std::size_t>(index)]));
    case detail::NodeImpl::Kind::remote:
      return caf::actor_cast<node_actor>(compiled->remotes[static_cast<std::size_t>(index)]());
  }
  return {};
}

}  // namespace

run_actor spawn_unplaced_node(caf::actor_system& sys, std::string node, std::string target) {
  return sys.spawn([node, target](run_actor::pointer self) -> run_actor::behavior_type {
    return {
        [self, node, target](node_call&) {
          self->quit();
          return node_result{Error{ErrorCode::unavailable, "node '" + node + "' runs '" + target +
                                                               "' on a cluster member, but this runtime is not a cluster node"}};
        },
        [self](cancel_atom) { self->quit(); },
        [self](deadline_atom) { self->quit(); },
        [self](fail_atom, Error&) { self->quit(); },
    };
  });
}

namespace {

bool runs_inline(const detail::NodeImpl& node) {
  return node.kind == detail::NodeImpl::Kind::function && !node.blocking;
}

// Passes the token on: to the next node, or back to the coordinator when the run ends, fails or
// reaches a parallel group.
void pass_on(step_actor::pointer self, const NodePlace& place, run_token&& token) {
  if (!token.acc.failed() && token.node >= 0) {
    self->send(place.compiled->nodes[static_cast<std::size_t>(token.node)], std::move(token));
    return;
  }
  auto coordinator = caf::actor_cast<coordinator_actor>(token.coordinator);
  self->send(coordinator, std::move(token));
}

void finish_step(step_actor::pointer self, const NodePlace& place, const std::string& step, std::uint64_t started,
                 node_result& result, run_token& token) {
  emit_node_left(token.ctx, step, place.node().name, result, now_us() - started);
  absorb_node_result(place.node().name, step, started, result, token);
  if (journaled(token.ctx)) token.last_step = step;
  if (!token.acc.failed()) advance(*place.wf, place.index, std::move(result.output), token);
  pass_on(self, place, std::move(token));
}

using StepDone = std::function<void(node_result&&)>;

// Runs the node's work for one visit, whatever its kind, and hands the result to `done`.
void run_node(step_actor::pointer self, const NodePlace& place, const run_context& ctx, const std::string& step,
              std::string input, StepDone done) {
  const auto& node = place.node();
  if (runs_inline(node)) {
    done(run_function(node, ctx, step, input));
    return;
  }
  auto worker = spawn_worker(self, node, place.compiled, place.index);
  self->request(worker, caf::infinite, node_call{ctx, step, std::move(input), {}})
      .then([done](node_result& result) { done(std::move(result)); },
            [done, name = node.name, step](caf::error& err) {
              done(node_result{Error{ErrorCode::internal, "node '" + name + "' (step '" + step +
                                                              "') did not answer: " + caf::to_string(err)}});
            });
}

// One visit of a journaled run: the recorded result when the journal has it, else the node runs
// and its result is committed before `done` sees it. Failures are not journaled: a resumed run
// tries the step again.
void journaled_step(step_actor::pointer self, const NodePlace& place, const run_context& ctx, std::string step,
                    std::string predecessor, bool branch, std::string input, StepDone done) {
  const auto digest = journal_digest(input);
  replay_lookup query{step, JournalStepKind::node, digest, predecessor, branch};
  consult_replay(self, ctx, std::move(query),
                 [self, place, ctx, step, predecessor = std::move(predecessor), digest, input = std::move(input),
                  done = std::move(done)](replay_answer&& answer) mutable {
    if (answer.error.code != ErrorCode::ok) {
      done(node_result{std::move(answer.error)});
      return;
    }
    if (answer.found) {
      node_result replayed;
      replayed.output = std::move(answer.step.output);
      replayed.usage = answer.step.usage;
      replayed.replayed = true;
      done(std::move(replayed));
      return;
    }
    const auto started_unix = unix_us_now();
    const auto started = now_us();
    run_node(self, place, ctx, step, std::move(input),
             [self, place, ctx, step, predecessor, digest, started_unix, started, done](node_result&& result) {
      if (result.failed()) {
        done(std::move(result));
        return;
      }
      StepRecord record;
      record.step_name = step;
      record.kind = JournalStepKind::node;
      record.name = place.node().name;
      record.input_digest = digest;
      record.predecessor = predecessor;
      record.output = result.output;
      record.usage = result.usage;
      record.started_unix_us = started_unix;
      record.duration_us = static_cast<std::int64_t>(now_us() - started);
      auto held = std::make_shared<node_result>(std::move(result));
      commit_step(self, ctx, std::move(record), [held, done, step](journal_appended&& appended) {
        if (appended.error.code != ErrorCode::ok) {
          held->error = Error{appended.error.code, "step '" + step + "' could not be journaled: " + appended.error.message};
        } else {
          held->output = std::move(appended.step.output);  // another writer's result, if it was first
        }
        done(std::move(*held));
      });
    });
  });
}

step_actor::behavior_type step_node(step_actor::pointer self, NodePlace place) {
  return {
      // A single visit, answered directly (parallel branches).
      [self, place](node_call& call) -> caf::result<node_result> {
        const auto& node = place.node();
        if (call.ctx.events) {  // streamed: the visit is reported when it starts and when it ends
          auto promise = self->make_response_promise<node_result>();
          auto ctx = call.ctx;
          emit_node_entered(ctx, call.step, node.name);
          StepDone done = [promise, ctx, step = call.step, name = node.name, started = now_us()](
                              node_result&& r) mutable {
            emit_node_left(ctx, step, name, r, now_us() - started);
            promise.deliver(std::move(r));
          };
          if (journaled(ctx))
            journaled_step(self, place, ctx, std::move(call.step), std::move(call.predecessor), true,
                           std::move(call.input), std::move(done));
          else
            run_node(self, place, ctx, call.step, std::move(call.input), std::move(done));
          return promise;
        }
        if (journaled(call.ctx)) {
          auto promise = self->make_response_promise<node_result>();
          auto ctx = call.ctx;
          journaled_step(self, place, ctx, std::move(call.step), std::move(call.predecessor), true,
                         std::move(call.input), [promise](node_result&& r) mutable { promise.deliver(std::move(r)); });
          return promise;
        }
        if (runs_inline(node)) return run_function(node, call.ctx, call.step, call.input);
        return self->delegate(spawn_worker(self, node, place.compiled, place.index), std::move(call));
      },
      // The run token: do this node's step, then pass the token on.
      [self, place](run_token& token) {
        const auto& node = place.node();
        std::string step = step_name(*place.wf, token, place.index);
        const auto started = now_us();
        emit_node_entered(token.ctx, step, node.name);
        if (journaled(token.ctx)) {
          auto held = std::make_shared<run_token>(std::move(token));
          auto ctx = held->ctx;
          journaled_step(self, place, ctx, step, held->last_step, false, std::move(held->input),
                         [self, place, step, started, held](node_result&& result) {
                           finish_step(self, place, step, started, result, *held);
                         });
          return;
        }
        if (runs_inline(node)) {
          auto result = run_function(node, token.ctx, step, token.input);
          finish_step(self, place, step, started, result, token);
          return;
        }
        auto worker = spawn_worker(self, node, place.compiled, place.index);
        node_call call{token.ctx, step, std::move(token.input), {}};
        // Both handlers need the token; only one of them runs.
        auto held = std::make_shared<run_token>(std::move(token));
        self->request(worker, caf::infinite, std::move(call))
            .then(
                [self, place, step, started, held](node_result& result) {
                  finish_step(self, place, step, started, result, *held);
                },
                [self, place, step, started, held](caf::error& err) {
                  node_result failed{Error{ErrorCode::internal, "node '" + place.node().name + "' (step '" + step +
                                                                    "') did not answer: " + caf::to_string(err)}};
                  emit_node_left(held->ctx, step, place.node().name, failed, now_us() - started);
                  fail_token(*held, std::move(failed.error));
                  pass_on(self, place, std::move(*held));
                });
      },
  };
}

}  // namespace

step_actor spawn_step_node(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                           std::shared_ptr<const CompiledWorkflow> compiled, std::int32_t index) {
  return sys.spawn(step_node, NodePlace{std::move(workflow), std::move(compiled), index});
}

std::uint64_t now_us() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace loomflow::actors
