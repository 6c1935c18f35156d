// loomflow/actors/spawn.hpp — how the runtime's actors are made, and the compiled form of a
// definition: the actor handles its runs talk to.
//
// A Workflow or Agent definition is compiled once per Runtime (see directory.hpp) into shared,
// stateless actors: one node actor per workflow node, one model actor per provider, one tool actor
// per tool. Each run then spawns only its own coordinator (workflows) or agent-run actor (agents).
// Thread-safety: the compiled structs are immutable after construction; spawn functions may be
// called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include "loomflow/actors/interfaces.hpp"
#include "loomflow/detail/definitions.hpp"
#include "loomflow/tool_policy.hpp"

namespace loomflow::actors {

struct CompiledAgent {
  model_actor model;
  std::vector<tool_actor> tools;  // parallel to AgentImpl::tool_specs
  std::shared_ptr<const ToolPolicy> policy;  // the Runtime's; empty: every tool is allowed
};

// Every vector is parallel to WorkflowImpl::nodes.
struct CompiledWorkflow {
  std::vector<step_actor> nodes;
  std::vector<std::shared_ptr<const detail::NodeImpl>> definitions;
  std::vector<std::shared_ptr<const CompiledAgent>> agents;        // for agent nodes, else null
  std::vector<std::shared_ptr<const CompiledWorkflow>> workflows;  // for sub-workflow nodes, else null
  std::vector<std::function<run_actor()>> remotes;  // for remote nodes: spawns the visit's run actor
};

// Called once with a top-level run's result, on the actor's thread; must not block.
using RunCompletion = std::function<void(node_result&&)>;

// Per-run actors: answer one node_call (and call `on_done` when given), then quit.
run_actor spawn_coordinator(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                            std::shared_ptr<const CompiledWorkflow> compiled, RunCompletion on_done = {});
run_actor spawn_agent_run(caf::actor_system& sys, std::shared_ptr<const detail::AgentImpl> agent,
                          std::shared_ptr<const CompiledAgent> compiled, RunCompletion on_done = {});

// Shared actors, one per definition. A node actor reads `compiled` only when runs arrive, so the
// compiled workflow may still be filled in (with this very actor) after the spawn.
step_actor spawn_step_node(caf::actor_system& sys, std::shared_ptr<const detail::WorkflowImpl> workflow,
                           std::shared_ptr<const CompiledWorkflow> compiled, std::int32_t index);
model_actor spawn_model(caf::actor_system& sys, std::shared_ptr<Provider> provider);
tool_actor spawn_function_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool);
// A remote node on a Runtime that is not a cluster node: its visit fails saying so.
run_actor spawn_unplaced_node(caf::actor_system& sys, std::string node, std::string target);
// A remote tool on a Runtime that is not a cluster node: every call is a tool error saying so.
tool_actor spawn_unserved_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool);
tool_actor spawn_workflow_tool(caf::actor_system& sys, std::shared_ptr<const detail::ToolImpl> tool,
                               std::shared_ptr<const CompiledWorkflow> compiled);

// The journal's writer for `store` (detached: it syncs), and a resumed run's replay log, which
// lives until `root` (the run's root actor) is gone.
journal_actor spawn_journal(caf::actor_system& sys, std::shared_ptr<JournalStore> store);
replay_actor spawn_replay(caf::actor_system& sys, SessionId session, std::vector<StepRecord> steps, caf::actor root);

// Microseconds since an arbitrary epoch, for step durations.
std::uint64_t now_us() noexcept;

}  // namespace loomflow::actors
