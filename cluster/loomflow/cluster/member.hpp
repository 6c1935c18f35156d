// loomflow/cluster/member.hpp — the member actor (see protocol.hpp) and the view of the membership
// it keeps for `Node`. Internal.
//
// The member actor is this process's gate (it answers handshakes), its failure detector (it sends
// heartbeats to every peer and marks those it stops hearing from), its joiner (seeds first, then
// every member they name, retried while unreachable) and, on workers, the entry of tool calls.
// It tells the router which workers can take calls.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include "loomflow/cluster/node.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/cluster/protocol.hpp"
#include "loomflow/event_stream.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow::cluster {

// What the member actor publishes for other threads. Thread-safety: all members lock `mutex`.
struct MembershipView {
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<MemberStatus> members;  // itself first
  // Seeds until this member first joined one: the last outcome of each (ok, or why not).
  std::map<std::string, Error> seed_outcomes;
  bool joined = false;  // some seed welcomed this member (or there were none)

  void publish(std::vector<MemberStatus> now);
  void seed_answered(const std::string& seed, Error outcome);
};

// A hosted run started here: its handle, and its events when the requester streams it.
struct HostedStart {
  RunHandle handle;
  std::shared_ptr<EventStream> stream;  // null unless streamed
};

// Starts a hosted agent or workflow on this member's Runtime (Node::start_on's other end), streamed
// or not; an error when this member hosts no such target. Set once the Runtime exists, before the
// member listens.
using StartHosted =
    std::function<Expected<HostedStart>(const std::string& target, std::string input, RunOptions options, bool streamed)>;

struct MemberSettings {
  MemberInfo self;  // `address`, `call_address` (and a default `name`) arrive with listening_atom
  ClusterAccess access;
  std::vector<std::string> seeds;
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds failure_timeout{1000};
  std::map<std::string, actors::tool_actor> served;  // workers: tool name -> the local tool actor
  std::function<void(const MemberStatus&)> on_change;
  std::shared_ptr<MembershipView> view;
  caf::io::middleman_actor connector;  // the middleman (or the TLS manager) that connects to peers
  router_actor router;                  // told which workers serve what
  std::shared_ptr<StartHosted> start_hosted;  // filled in by Node::start
};

member_actor spawn_member(caf::actor_system& system, MemberSettings settings);

struct RouterSettings {
  std::chrono::milliseconds unserved_timeout{30'000};
  std::uint32_t max_dispatch_attempts = 3;
  std::string secret;  // for the call channels to workers (call_channel.hpp)
};

router_actor spawn_router(caf::actor_system& system, RouterSettings settings);

// The requester's end of a remote run (Node::start_on): a run actor that asks `member` (this
// process's member actor) where to run `target`, runs it there, and — when that member goes down
// before answering — runs it again elsewhere with the same session, up to `max_attempts` times.
struct RemoteRunSettings {
  std::string target;
  std::string preferred;  // a member name, or empty: any member hosting the target
  member_actor member;
  std::uint32_t max_attempts = 3;
  std::chrono::milliseconds place_timeout{10'000};
};

remote_run_actor spawn_remote_run(caf::actor_system& system, RemoteRunSettings settings, actors::RunCompletion done);

}  // namespace loomflow::cluster
