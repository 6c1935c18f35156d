// loomflow/actors/type_registry.hpp — registers every Loomflow message type with CAF's type system.
// Every process of a cluster must call it on its actor_system_config before the system starts.
#pragma once

#include <caf/fwd.hpp>

namespace loomflow::actors {

void register_message_types(caf::actor_system_config& cfg);

}  // namespace loomflow::actors
