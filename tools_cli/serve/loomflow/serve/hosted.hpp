// loomflow/serve/hosted.hpp — what `loomflow serve` hosts: the workflows and agents of its specs,
// each under a name a client uses as its `target` (or OpenAI `model`).
//
// A spec named S contributes its workflow as "S" and each of its agents A as "S/A". Names are unique
// across every spec served; a second spec with the same name is an error naming both files.
// Thread-safety: immutable after loading.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loomflow/agent.hpp"
#include "loomflow/error.hpp"
#include "loomflow/spec.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow::serve {

struct HostedTarget {
  enum class Kind { workflow, agent };
  std::string name;         // "support" or "support/billing"
  Kind kind = Kind::workflow;
  std::string description;  // the spec's description (workflows) or the agent's instructions' first line
  std::optional<Workflow> workflow;
  std::optional<Agent> agent;
  std::string spec_path;    // the file it came from
  std::string agent_key;    // agents: the agent's name in its spec ("billing" of "support/billing")
};

struct Hosted {
  std::map<std::string, HostedTarget> targets;  // by name
  std::vector<LoadedSpec> specs;                // kept alive: their models, tools and MCP servers
  std::shared_ptr<const ToolPolicy> tool_policy;  // of the one spec that has one (at most one may)
  const HostedTarget* find(const std::string& name) const;
};

// Loads FILE, or every *.json in DIR (in name order). Errors name the file and what is wrong.
Expected<Hosted> load_hosted(const std::string& path, const SpecEnvironment& env);

}  // namespace loomflow::serve
