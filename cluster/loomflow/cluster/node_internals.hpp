// loomflow/cluster/node_internals.hpp — a Node's actor system and tool router, for benchmarks and
// tests that drive remote calls without an agent (loomflow bench C1/C2). Not for applications.
#pragma once

#include <caf/fwd.hpp>

#include "loomflow/actors/interfaces.hpp"
#include "loomflow/cluster/node.hpp"

namespace loomflow::cluster::internal {

caf::actor_system& system_of(Node& node);
// Takes tool_invocations for any tool a worker serves, like the tool actor of a Tool::remote.
actors::tool_actor router_of(Node& node);

}  // namespace loomflow::cluster::internal
