// loomflow/cluster/membership.hpp — what a cluster node knows of its members: plain values, for
// `Node::members()` and `loomflow cluster status`.
//
// A member is `up` while its heartbeats arrive, `unreachable` once none arrived for the failure
// timeout (a hung or partitioned process: its calls are re-dispatched, none are sent to it; it is
// `up` again when heartbeats resume), and `down` once its connection closed or it left.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loomflow/provider.hpp"

namespace loomflow::cluster {

enum class MemberRole : std::uint8_t { node, worker, client };
enum class MemberState : std::uint8_t { up, unreachable, down };

const char* to_string(MemberRole role) noexcept;
const char* to_string(MemberState state) noexcept;

// A tool a worker serves.
struct ServedTool {
  ToolSpec spec;
  bool idempotent = false;
};

// What a member says about itself when it joins.
struct MemberInfo {
  std::string name;     // unique in the cluster
  std::string address;  // "host:port" it listens on
  MemberRole role = MemberRole::node;
  std::vector<ServedTool> tools;  // workers: the tools they serve
  std::uint32_t capacity = 0;     // workers: calls they run at once
  std::vector<std::string> hosted;  // agents and workflows it runs for other members (Node::start_on)
  std::string call_address;  // "host:port" of its call channel for tool calls; empty: none (TLS)
  std::uint64_t incarnation = 0;  // start time (µs since epoch): a restarted member is a new one
};

// A member as one node sees it.
struct MemberStatus {
  MemberInfo info;
  MemberState state = MemberState::up;
  std::int64_t last_heard_ms = 0;  // since its last heartbeat (0 for this node itself)
  bool self = false;               // the node reporting
};

}  // namespace loomflow::cluster
