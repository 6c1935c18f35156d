#include "loomflow/cluster/protocol.hpp"

#include <caf/all.hpp>

#include "loomflow/actors/type_registry.hpp"

namespace loomflow::cluster {

const char* to_string(MemberRole role) noexcept {
  switch (role) {
    case MemberRole::node: return "node";
    case MemberRole::worker: return "worker";
    case MemberRole::client: return "client";
  }
  return "?";
}

const char* to_string(MemberState state) noexcept {
  switch (state) {
    case MemberState::up: return "up";
    case MemberState::unreachable: return "unreachable";
    case MemberState::down: return "down";
  }
  return "?";
}

void register_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<ServedTool>("loomflow.cluster.served_tool")
      .add_message_type<MemberInfo>("loomflow.cluster.member_info")
      .add_message_type<MemberStatus>("loomflow.cluster.member_status")
      .add_message_type<cluster_hello>("loomflow.cluster.hello")
      .add_message_type<cluster_challenge>("loomflow.cluster.challenge")
      .add_message_type<cluster_join>("loomflow.cluster.join")
      .add_message_type<cluster_welcome>("loomflow.cluster.welcome")
      .add_message_type<cluster_heartbeat>("loomflow.cluster.heartbeat")
      .add_message_type<cluster_leave>("loomflow.cluster.leave")
      .add_message_type<worker_update>("loomflow.cluster.worker_update")
      .add_message_type<remote_run>("loomflow.cluster.remote_run")
      .add_message_type<placement>("loomflow.cluster.placement");
}

}  // namespace loomflow::cluster
