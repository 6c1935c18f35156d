// loomflow/actors/directory.hpp — compiles definitions into their shared actors, once per Runtime.
//
// The first run of a Workflow or Agent spawns its node, model and tool actors (recursively for
// nested agents and workflows); later runs reuse them. Definitions are keyed by identity (the shared
// impl pointer) and kept alive by the directory until `shutdown`.
// Thread-safety: all member functions may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>

#include "loomflow/actors/spawn.hpp"

namespace loomflow::detail {
struct RuntimeExtension;
}

namespace loomflow::actors {

class Directory {
 public:
  Directory(caf::actor_system& sys, std::shared_ptr<const ToolPolicy> policy,
            std::shared_ptr<detail::RuntimeExtension> extension)
      : sys_(sys), policy_(std::move(policy)), extension_(std::move(extension)) {}

  std::shared_ptr<const CompiledWorkflow> workflow(const std::shared_ptr<const detail::WorkflowImpl>& wf);
  std::shared_ptr<const CompiledAgent> agent(const std::shared_ptr<const detail::AgentImpl>& agent);

  // The shared actor of a tool outside any agent (a tool a cluster worker serves).
  tool_actor tool_for(const Tool& tool);

  // Stops every shared actor; runs still in flight fail with an error.
  void shutdown();

 private:
  model_actor model(const std::shared_ptr<Provider>& provider);
  tool_actor tool(const std::shared_ptr<const detail::ToolImpl>& tool);
  std::function<run_actor()> remote_node(const std::shared_ptr<const detail::NodeImpl>& node);

  caf::actor_system& sys_;
  std::shared_ptr<const ToolPolicy> policy_;  // handed to every compiled agent
  std::shared_ptr<detail::RuntimeExtension> extension_;  // the cluster's, for remote tools; may be empty
  std::recursive_mutex mutex_;  // compiling recurses into nested definitions
  std::unordered_map<const void*, std::pair<std::shared_ptr<const void>, std::shared_ptr<const CompiledWorkflow>>> workflows_;
  std::unordered_map<const void*, std::pair<std::shared_ptr<const void>, std::shared_ptr<const CompiledAgent>>> agents_;
  std::unordered_map<const void*, std::pair<std::shared_ptr<const void>, model_actor>> models_;
  std::unordered_map<const void*, std::pair<std::shared_ptr<const void>, tool_actor>> tools_;
  std::vector<caf::strong_actor_ptr> spawned_;
};

}  // namespace loomflow::actors
