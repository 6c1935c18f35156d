// The run coordinator: one per workflow run. It owns the run's state — visit counts, `visited`,
// usage and trace — decides the next node(s) after each step, enforces max_visits_per_node, and
// answers the node_call that started it. Node work happens in the shared node actors.
#include <caf/all.hpp>

#include "loomflow/actors/run_scope.hpp"
#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

using detail::kEnd;
using detail::Successor;

struct CoordinatorState {
  std::shared_ptr<const detail::WorkflowImpl> wf;
  std::shared_ptr<const CompiledWorkflow> compiled;
  RunCompletion on_done;
  caf::typed_response_promise<node_result> promise;
  bool started = false;
  bool finished = false;
  run_context ctx;
  std::string prefix;              // step name prefix for this workflow's nodes ("" or "<parent>/")
  std::vector<int> visits;         // per node
  node_result result;              // accumulates usage, trace, visited
  // The parallel group in flight.
  const Successor* group = nullptr;
  std::vector<BranchOutput> branch_outputs;
  std::size_t branches_pending = 0;

  static inline const char* name = "loomflow.coordinator";
};

using self_ptr = run_actor::stateful_pointer<CoordinatorState>;

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

void finish(self_ptr self, Error error, std::string output) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  st.result.error = std::move(error);
  st.result.output = std::move(output);
  // A top-level run was started with anon_send: its result goes to the completion, not a requester.
  if (st.on_done)
    st.on_done(std::move(st.result));
  else
    st.promise.deliver(std::move(st.result));
  self->quit();
}

void fail(self_ptr self, ErrorCode code, std::string message) { finish(self, Error{code, std::move(message)}, {}); }

// Claims one visit of node `idx`; false (and the run failed) when it would exceed the cap.
bool claim_visit(self_ptr self, int idx, std::string& step) {
  auto& st = self->state;
  const auto& name = st.wf->nodes[static_cast<std::size_t>(idx)]->name;
  int& visits = st.visits[static_cast<std::size_t>(idx)];
  if (visits >= st.wf->max_visits_per_node) {
    fail(self, ErrorCode::visit_cap_exceeded,
         "workflow " + squote(st.wf->name) + ": node " + squote(name) + " would be entered more than " +
             std::to_string(st.wf->max_visits_per_node) + " times (max_visits_per_node = " +
             std::to_string(st.wf->max_visits_per_node) + ")");
    return false;
  }
  ++visits;
  step.reserve(st.prefix.size() + name.size() + 4);
  step = st.prefix;
  step += name;
  step += '#';
  step += std::to_string(visits);
  return true;
}

// Folds a finished node's result into the run; false when the node failed (run failed).
bool absorb(self_ptr self, int idx, const std::string& step, std::uint64_t started_us, node_result& r) {
  auto& st = self->state;
  const auto& name = st.wf->nodes[static_cast<std::size_t>(idx)]->name;
  st.result.usage += r.usage;
  for (auto& t : r.trace) st.result.trace.push_back(std::move(t));
  TraceStep own{step, StepKind::node, name, !r.failed(), r.failed() ? r.error.message : std::string(),
                now_us() - started_us, r.usage};
  st.result.trace.push_back(std::move(own));
  if (r.failed()) {
    finish(self, std::move(r.error), {});
    return false;
  }
  return true;
}

void advance(self_ptr self, const Successor& next, std::string output);

void run_node(self_ptr self, int idx, std::string input) {
  auto& st = self->state;
  std::string step;
  if (!claim_visit(self, idx, step)) return;
  st.result.visited.push_back(st.wf->nodes[static_cast<std::size_t>(idx)]->name);
  auto started = now_us();
  self->request(st.compiled->nodes[static_cast<std::size_t>(idx)], caf::infinite, node_call{st.ctx, step, std::move(input)})
      .then(
          [self, idx, step, started](node_result& r) {
            if (self->state.finished) return;
            if (!absorb(self, idx, step, started, r)) return;
            advance(self, self->state.wf->successors[static_cast<std::size_t>(idx)], std::move(r.output));
          },
          [self, idx](caf::error& err) {
            fail(self, ErrorCode::internal,
                 "workflow " + squote(self->state.wf->name) + ": node " +
                     squote(self->state.wf->nodes[static_cast<std::size_t>(idx)]->name) +
                     " did not answer: " + caf::to_string(err));
          });
}

void join_branches(self_ptr self) {
  auto& st = self->state;
  const Successor& group = *st.group;
  st.group = nullptr;
  auto merged = group.merge(st.branch_outputs);
  st.branch_outputs.clear();
  if (!merged) {
    fail(self, merged.error().code,
         "workflow " + squote(st.wf->name) + ": merging the parallel branches into " + squote(group.join) +
             " failed: " + merged.error().message);
    return;
  }
  run_node(self, group.join_index, std::move(*merged));
}

void run_parallel(self_ptr self, const Successor& group, const std::string& input) {
  auto& st = self->state;
  st.group = &group;
  st.branches_pending = group.branch_index.size();
  st.branch_outputs.assign(group.branch_index.size(), BranchOutput{});
  for (std::size_t i = 0; i < group.branch_index.size(); ++i) {
    int idx = group.branch_index[i];
    std::string step;
    if (!claim_visit(self, idx, step)) return;
    const auto& name = st.wf->nodes[static_cast<std::size_t>(idx)]->name;
    st.result.visited.push_back(name);  // declaration order, whatever order they finish in
    st.branch_outputs[i].branch = name;
    auto started = now_us();
    self->request(st.compiled->nodes[static_cast<std::size_t>(idx)], caf::infinite, node_call{st.ctx, step, input})
        .then(
            [self, idx, i, step, started](node_result& r) {
              if (self->state.finished) return;
              if (!absorb(self, idx, step, started, r)) return;
              self->state.branch_outputs[i].output = std::move(r.output);
              if (--self->state.branches_pending == 0) join_branches(self);
            },
            [self, idx](caf::error& err) {
              fail(self, ErrorCode::internal,
                   "workflow " + squote(self->state.wf->name) + ": branch " +
                       squote(self->state.wf->nodes[static_cast<std::size_t>(idx)]->name) +
                       " did not answer: " + caf::to_string(err));
            });
  }
}

void advance(self_ptr self, const Successor& next, std::string output) {
  auto& st = self->state;
  switch (next.kind) {
    case Successor::Kind::none:
      finish(self, Error{ErrorCode::ok, {}}, std::move(output));
      return;
    case Successor::Kind::edge:
      if (next.to_index == kEnd)
        finish(self, Error{ErrorCode::ok, {}}, std::move(output));
      else
        run_node(self, next.to_index, std::move(output));
      return;
    case Successor::Kind::router: {
      auto label = next.router(output);
      if (!label) {
        fail(self, label.error().code, "workflow " + squote(st.wf->name) + ": router failed: " + label.error().message);
        return;
      }
      auto it = next.route_index.find(detail::normalize_label(*label));
      if (it == next.route_index.end()) {
        std::string known;
        for (const auto& [l, target] : next.routes) known += (known.empty() ? "" : ", ") + l;
        fail(self, ErrorCode::unknown_route_label,
             "workflow " + squote(st.wf->name) + ": router got unknown label " + squote(*label) +
                 " (known labels: " + known + ")");
        return;
      }
      if (it->second == kEnd)
        finish(self, Error{ErrorCode::ok, {}}, std::move(output));
      else
        run_node(self, it->second, std::move(output));
      return;
    }
    case Successor::Kind::parallel:
      run_parallel(self, next, output);
      return;
  }
}

run_actor::behavior_type coordinator(self_ptr self, std::shared_ptr<const detail::WorkflowImpl> wf,
                                     std::shared_ptr<const CompiledWorkflow> compiled, RunCompletion on_done) {
  auto& st = self->state;
  st.wf = std::move(wf);
  st.compiled = std::move(compiled);
  st.on_done = std::move(on_done);
  st.visits.assign(st.wf->nodes.size(), 0);
  return {
      [self](node_call& call) -> caf::typed_response_promise<node_result> {
        auto& st = self->state;
        st.promise = self->make_response_promise<node_result>();
        if (st.started) {
          st.promise.deliver(node_result{Error{ErrorCode::internal, "a coordinator runs exactly one workflow run"}});
          return st.promise;
        }
        st.started = true;
        st.ctx = std::move(call.ctx);
        join_run(self, st.ctx, static_cast<bool>(st.on_done), [self] {
          fail(self, ErrorCode::cancelled,
               "workflow " + squote(self->state.wf->name) + ": stopped because its run ended first");
        });
        st.prefix = call.step.empty() ? std::string() : call.step + "/";
        advance(self, st.wf->start, std::move(call.input));
        return st.promise;
      },
      [self](cancel_atom) {
        fail(self, ErrorCode::cancelled, "workflow " + squote(self->state.wf->name) + ": the run was cancelled");
      },
      [self](deadline_atom) {
        fail(self, ErrorCode::deadline_exceeded,
             "workflow " + squote(self->state.wf->name) + ": the run exceeded its deadline");
      },
  };
}

}  // namespace

run_actor spawn_coordinator(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                            std::shared_ptr<const CompiledWorkflow> compiled, RunCompletion on_done) {
  return sys.spawn(coordinator, std::move(workflow), std::move(compiled), std::move(on_done));
}

}  // namespace loomflow::actors
