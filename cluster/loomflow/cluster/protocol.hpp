// loomflow/cluster/protocol.hpp — the typed messages cluster members exchange, and the actor
// interfaces that take them. Internal to loomflow_cluster.
//
// Every process of a cluster registers these (register_cluster_types) next to the runtime's own
// messages. Like those, they carry names and data only: a tool call names the tool, and the
// receiving worker resolves the name against the tools it registered itself.
//
// Joining (`handshake.hpp`) is a challenge-response over the cluster secret, in both directions:
//   joiner -> gate: cluster_hello{name, nonce_j}
//   gate -> joiner: cluster_challenge{nonce_g, proof_g = HMAC(secret, "gate" nonce_j nonce_g)}
//   joiner -> gate: cluster_join{info, proof_j = HMAC(secret, "join" nonce_g nonce_j name)}
//   gate -> joiner: cluster_welcome{gate's info, the members it knows}
// Only then does either side accept heartbeats, tool calls or membership news from the other's
// node (checked against the sending node's id).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "loomflow/actors/interfaces.hpp"
#include "loomflow/actors/messages.hpp"
#include "loomflow/cluster/membership.hpp"

namespace loomflow::cluster {

struct cluster_hello {
  std::string name;
  std::string nonce;
};

struct cluster_challenge {
  Error error{ErrorCode::ok, {}};
  std::string nonce;
  std::string proof;
};

struct cluster_join {
  MemberInfo info;
  std::string nonce;  // the gate's, from its challenge
  std::string proof;
  caf::actor member;  // the joiner's member actor (clients: empty)
};

struct cluster_welcome {
  Error error{ErrorCode::ok, {}};  // a refusal says why
  MemberInfo info;                 // the gate's own
  std::vector<MemberStatus> members;  // every member the gate knows, itself included
};

struct cluster_heartbeat {
  std::string name;
  std::uint64_t incarnation = 0;
};

// A member leaves on purpose (shutdown): no need to wait for the failure detector.
struct cluster_leave {
  std::string name;
  std::uint64_t incarnation = 0;
};

// From a node's member actor to its tool router: which workers serve what, and can be used.
struct worker_update {
  MemberInfo info;
  caf::actor member;  // the worker's member actor: where its calls go
  bool usable = true;  // false: unreachable or down — re-dispatch what it holds
};

// Run a hosted agent or workflow here for another member; answered with the run's result.
struct remote_run {
  std::string target;
  std::string input;
  UserId user_id;
  SessionId session_id;
  std::vector<Message> history;
  caf::actor events;  // streamed: where the run's events go (remote_event_atom), all before the result
};

// Which member runs a remote run: the answer to place_atom.
struct placement {
  Error error{ErrorCode::ok, {}};
  std::string name;
  caf::actor member;  // its member actor
};

using channel_atom = caf::atom_constant<caf::atom("lf_cchan")>;
using remote_event_atom = caf::atom_constant<caf::atom("lf_revent")>;
using pump_atom = caf::atom_constant<caf::atom("lf_cpump")>;
using place_atom = caf::atom_constant<caf::atom("lf_cplace")>;
using placed_atom = caf::atom_constant<caf::atom("lf_cplaced")>;
using run_done_atom = caf::atom_constant<caf::atom("lf_crdone")>;
using remote_cancel_atom = caf::atom_constant<caf::atom("lf_rcancel")>;
using tick_atom = caf::atom_constant<caf::atom("lf_ctick")>;
using listening_atom = caf::atom_constant<caf::atom("lf_clisten")>;
using unserved_atom = caf::atom_constant<caf::atom("lf_cunsrv")>;

// The actor each member publishes on its listen port: gate, membership, failure detector and —
// on workers — the entry of remote tool calls. Handlers for other members check that the sender's
// node completed a handshake; handlers for this process only check that the sender is local (or,
// for messages sent anonymously from runtime threads, a per-process token), since anonymous
// messages from the network have no sender either.
using member_actor = caf::typed_actor<caf::replies_to<cluster_hello>::with<cluster_challenge>,
                                      caf::replies_to<cluster_join>::with<cluster_welcome>,
                                      caf::reacts_to<cluster_heartbeat>, caf::reacts_to<cluster_leave>,
                                      caf::replies_to<actors::tool_invocation>::with<actors::tool_result>,
                                      caf::reacts_to<tick_atom>,
                                      caf::reacts_to<listening_atom, std::string, std::string>,
                                      // hosted runs, for other members (and this one)
                                      caf::replies_to<remote_run>::with<actors::node_result>,
                                      // (run id, this process's token): local messages that anyone
                                      // on the network could otherwise forge anonymously
                                      caf::reacts_to<run_done_atom, std::uint64_t, std::uint64_t, actors::node_result>,
                                      caf::reacts_to<pump_atom, std::uint64_t, std::uint64_t>,
                                      caf::reacts_to<remote_cancel_atom, std::string>,
                                      // placing this member's remote runs: choose a host, and release it
                                      caf::replies_to<place_atom, std::string, std::string, std::vector<std::string>>::with<placement>,
                                      caf::reacts_to<placed_atom, std::string>>;

// A node's router of remote tool calls: a tool_actor for every Tool::remote, fed by membership.
// channel_atom: a call channel to a worker (name, incarnation) is ready — or `error` says why not.
using router_actor = actors::tool_actor::extend<caf::reacts_to<worker_update>,
                                                caf::reacts_to<unserved_atom, std::uint64_t>,
                                                caf::reacts_to<channel_atom, std::string, std::uint64_t, caf::actor, std::string>>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ServedTool& x) {
  return f(caf::meta::type_name("loomflow.cluster.served_tool"), x.spec, x.idempotent);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, MemberInfo& x) {
  return f(caf::meta::type_name("loomflow.cluster.member_info"), x.name, x.address, x.role, x.tools, x.capacity,
           x.hosted, x.call_address, x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, MemberStatus& x) {
  return f(caf::meta::type_name("loomflow.cluster.member_status"), x.info, x.state, x.last_heard_ms, x.self);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_hello& x) {
  return f(caf::meta::type_name("loomflow.cluster.hello"), x.name, x.nonce);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_challenge& x) {
  return f(caf::meta::type_name("loomflow.cluster.challenge"), x.error, x.nonce, x.proof);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_join& x) {
  return f(caf::meta::type_name("loomflow.cluster.join"), x.info, x.nonce, x.proof, x.member);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_welcome& x) {
  return f(caf::meta::type_name("loomflow.cluster.welcome"), x.error, x.info, x.members);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_heartbeat& x) {
  return f(caf::meta::type_name("loomflow.cluster.heartbeat"), x.name, x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_leave& x) {
  return f(caf::meta::type_name("loomflow.cluster.leave"), x.name, x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_update& x) {
  return f(caf::meta::type_name("loomflow.cluster.worker_update"), x.info, x.member, x.usable);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, remote_run& x) {
  return f(caf::meta::type_name("loomflow.cluster.remote_run"), x.target, x.input, x.user_id, x.session_id, x.history,
           x.events);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement& x) {
  return f(caf::meta::type_name("loomflow.cluster.placement"), x.error, x.name, x.member);
}

// The requester's end of a remote run: a run actor that also takes the run's events.
using remote_run_actor = actors::run_actor::extend<caf::reacts_to<remote_event_atom, RunEvent>>;

// Registers every cluster message type (and the runtime's) with an actor system config.
void register_cluster_types(caf::actor_system_config& cfg);

}  // namespace loomflow::cluster
