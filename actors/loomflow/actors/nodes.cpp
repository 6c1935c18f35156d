// Shared node actors: one per workflow node, used by every run of the workflow. Each message
// carries the run's context, so these actors hold no per-run state.
#include <caf/all.hpp>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::actors {

namespace {

node_result run_function(const detail::NodeImpl& node, node_call& call) {
  NodeContext ctx{call.input, call.ctx.user_id, call.ctx.session_id, call.step};
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
    result.error = Error{out.error().code, "node '" + node.name + "' (step '" + call.step + "'): " + out.error().message};
  return result;
}

// Runs one blocking function call off the cooperative scheduler, then quits.
node_actor::behavior_type blocking_function_worker(node_actor::pointer self, std::shared_ptr<const detail::NodeImpl> node) {
  return {
      [self, node](node_call& call) {
        self->quit();
        return run_function(*node, call);
      },
  };
}

node_actor::behavior_type function_node(node_actor::pointer self, std::shared_ptr<const detail::NodeImpl> node) {
  if (node->blocking) {
    return {
        [self, node](node_call& call) -> caf::delegated<node_result> {
          auto worker = self->spawn<caf::detached>(blocking_function_worker, node);
          return self->delegate(worker, std::move(call));
        },
    };
  }
  return {
      [node](node_call& call) { return run_function(*node, call); },
  };
}

node_actor::behavior_type agent_node(node_actor::pointer self, std::shared_ptr<const detail::AgentImpl> agent,
                                     std::shared_ptr<const CompiledAgent> compiled) {
  return {
      [self, agent, compiled](node_call& call) -> caf::delegated<node_result> {
        auto run = spawn_agent_run(self->system(), agent, compiled);
        return self->delegate(caf::actor_cast<node_actor>(run), std::move(call));
      },
  };
}

node_actor::behavior_type workflow_node(node_actor::pointer self, std::shared_ptr<const detail::WorkflowImpl> workflow,
                                        std::shared_ptr<const CompiledWorkflow> compiled) {
  return {
      [self, workflow, compiled](node_call& call) -> caf::delegated<node_result> {
        auto run = spawn_coordinator(self->system(), workflow, compiled);
        return self->delegate(caf::actor_cast<node_actor>(run), std::move(call));
      },
  };
}

}  // namespace

node_actor spawn_function_node(caf::actor_system& sys, std::shared_ptr<const detail::NodeImpl> node) {
  return sys.spawn(function_node, std::move(node));
}

node_actor spawn_agent_node(caf::actor_system& sys, std::shared_ptr<const detail::AgentImpl> agent,
                            std::shared_ptr<const CompiledAgent> compiled) {
  return sys.spawn(agent_node, std::move(agent), std::move(compiled));
}

node_actor spawn_workflow_node(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                               std::shared_ptr<const CompiledWorkflow> compiled) {
  return sys.spawn(workflow_node, std::move(workflow), std::move(compiled));
}

std::uint64_t now_us() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace loomflow::actors
