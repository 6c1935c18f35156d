// loomflow/actors/extension.hpp — how a layer above the runtime (the cluster) extends a Runtime's
// actor system: modules and options before it starts, its own actors once it runs, and the actor
// behind each remote tool.
//
// Contract: `configure` runs once, on the thread constructing the Runtime, before the actor system
// exists; `started` once right after (with the Runtime's tool compiler and run launcher, valid for
// the Runtime's lifetime); `remote_tool` whenever the Runtime compiles an agent that
// uses a `Tool::remote` (under the Runtime's compile lock: it must not block); `stopping` once when
// the Runtime is destroyed, before its actors are stopped. Thread-safety: see each call.
#pragma once

#include <functional>

#include <caf/fwd.hpp>

#include "loomflow/actors/interfaces.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/detail/definitions.hpp"

namespace loomflow::detail {

// The Runtime's own compiled actor for a tool (function or workflow), shared with its agents.
using ToolCompiler = std::function<actors::tool_actor(const Tool& tool)>;

// Spawns the actor of a run that another member executes (see launch_remote); the completion is
// the Runtime's, as for its own runs.
using SpawnRun = std::function<actors::run_actor(actors::RunCompletion done)>;
// Starts such a run: a RunHandle like Runtime::start's, not journaled here; with `events`, streamed
// into that channel like Runtime::stream's runs (run_started first, run_finished last).
using RunLauncher = std::function<RunHandle(SpawnRun spawn, std::string target, std::string input, RunOptions options,
                                            std::shared_ptr<actors::EventChannel> events)>;

struct RuntimeExtension {
  virtual ~RuntimeExtension() = default;
  virtual void configure(caf::actor_system_config& cfg) = 0;
  virtual void started(caf::actor_system& system, const ToolCompiler& compile, const RunLauncher& launch) = 0;
  // The actor that dispatches calls of `tool` (Kind::remote) to the workers serving it.
  virtual actors::tool_actor remote_tool(const ToolImpl& tool) = 0;
  // The run actor of one visit of a remote workflow node (Node::remote): it answers the node_call.
  // Called on a scheduler thread when the visit starts: it must not block.
  virtual actors::run_actor spawn_remote_node(const NodeImpl& node) = 0;
  virtual void stopping() = 0;
};

}  // namespace loomflow::detail
