// loomflow/cluster/node.hpp — `Node`: this process as a member of a Loomflow cluster.
//
//   loomflow::cluster::NodeConfig config;
//   config.listen = "10.0.0.5:7100";
//   config.seeds = {"10.0.0.4:7100"};
//   config.secret = read_file("/etc/loomflow/cluster.secret");
//   auto node = loomflow::cluster::Node::start(std::move(config));   // Expected<std::unique_ptr<Node>>
//   auto lookup = (*node)->tool("lookup_order");                     // served by `loomflow worker`s
//   auto agent = loomflow::Agent::create({... .tools = {*lookup}});
//   (*node)->runtime().run(*agent, "Where is order 42?");
//
// A Node owns a Runtime whose actor system is reachable from the other members (CAF's middleman,
// over TLS when configured). Members find each other through seeds: a joining member asks a seed
// for the members it knows and joins each of them too (a full mesh). Every pair authenticates at
// join — by the cluster secret (HMAC challenge-response both ways) and/or mutual TLS — and accepts
// nothing else from a peer that has not. Heartbeats every `heartbeat_interval` detect a dead, hung
// (SIGSTOP) or partitioned member after `failure_timeout`.
//
// Members serve tools (`tools`: functions, or workflows and agents as tools — see
// Workflow::as_tool); every node routes the calls of its agents'
// `Tool::remote` tools to the workers serving them, to the one with the fewest calls outstanding,
// at most `capacity` per worker (more wait in line). A call whose worker dies or hangs is sent to
// another worker with the same idempotency key ("<session>/<step>") and `redelivery` set: tool
// effects are at-least-once unless the tool uses its key; journaled results stay exactly-once.
// Messages carry names and data only: a worker runs only tools it registered itself.
//
// Thread-safety: all member functions are thread-safe. Destroying a Node leaves the cluster
// (members see it `down` at once) and stops its Runtime.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loomflow/cluster/membership.hpp"
#include "loomflow/error.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/tool.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow::cluster {

namespace internal {
struct Access;  // node_internals.hpp
}

// Mutual TLS: every member needs its certificate and key and the CA file that signed the others'.
// All three or none.
struct TlsFiles {
  std::string certificate;  // PEM
  std::string key;          // PEM
  std::string ca;           // PEM: the CA(s) a peer's certificate must chain to
  bool enabled() const noexcept { return !certificate.empty() || !key.empty() || !ca.empty(); }
};

// How this process reaches a cluster: shared by nodes, workers and `cluster status`.
struct ClusterAccess {
  std::string secret;  // the cluster secret; empty: none
  TlsFiles tls;
  // A cluster needs a secret or TLS; `insecure` allows neither (trusted test networks only).
  bool insecure = false;
  std::chrono::milliseconds request_timeout{5000};  // connecting and each handshake step
};

struct NodeConfig {
  std::string listen = "127.0.0.1:0";  // "host:port"; port 0: any free port (see Node::address)
  std::vector<std::string> seeds;       // "host:port" of members to join through; empty: a new cluster
  std::string name;                     // unique in the cluster; default: the listen address
  MemberRole role = MemberRole::node;   // node or worker
  ClusterAccess access;
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds failure_timeout{1000};  // no heartbeat for this long: unreachable
  // The tools this member serves to the cluster (functions; workflows and agents as tools, which
  // then run here), and how many calls it runs at once. Workers serve tools; nodes may too — a
  // node serving agents is how a supervisor on one node delegates to agents on others.
  std::vector<Tool> tools;
  std::uint32_t capacity = 16;
  // Agents and workflows this member runs for others (Node::start_on), by the name they ask for.
  // Names are unique across both maps.
  std::map<std::string, Agent> agents;
  std::map<std::string, Workflow> workflows;
  // A call of a tool no usable worker serves waits this long for one, then is a tool error.
  std::chrono::milliseconds unserved_timeout{30'000};
  // A call is dispatched at most this often (its workers died or hung); then it is a tool error.
  std::uint32_t max_dispatch_attempts = 3;
  // How often an idle scheduler thread polls for new work before it parks (CAF's
  // work-stealing.aggressive-poll-attempts; its default is 100). Higher keeps threads hot between a
  // remote call and its answer — remote round trips about halve — for some CPU spent polling after
  // each burst of work (an idle member: ~1 % of a core). 0 keeps CAF's default.
  std::size_t idle_polls = 50'000;
  // How long start() waits for the seeds to answer the first join.
  std::chrono::milliseconds join_timeout{10'000};
  RuntimeConfig runtime;  // the Runtime this node runs agents and workflows on
  // Called on every membership change (a member joined, became unreachable, up again, down), on an
  // actor thread: it must not block.
  std::function<void(const MemberStatus&)> on_change;
};

class Node {
 public:
  // Listens, then joins through the seeds. Fails on a bad config, when the address cannot be bound,
  // or when every seed refused this node (a wrong secret or certificate) — naming the seed and why.
  // Seeds that cannot be reached yet are retried in the background every second.
  [[nodiscard]] static Expected<std::unique_ptr<Node>> start(NodeConfig config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Runtime& runtime() noexcept;
  const std::string& name() const noexcept;
  const std::string& address() const noexcept;  // "host:port" with the bound port

  // This node's view of the cluster, itself first.
  std::vector<MemberStatus> members() const;
  // Blocks until `holds(members())` or the timeout; returns whether it held.
  bool wait_until(const std::function<bool(const std::vector<MemberStatus>&)>& holds,
                  std::chrono::milliseconds timeout) const;

  // The Tool::remote for `tool`, as the workers serving it describe it. An error when no usable
  // worker serves it now.
  Expected<Tool> tool(const std::string& tool) const;

  // Runs `target` — an agent or workflow a member hosts (NodeConfig::agents/workflows; this node
  // included) — on `member`, or, when `member` is empty, on the up member hosting it that runs the
  // fewest of this node's remote runs. The handle behaves as Runtime::start's (wait, then, cancel;
  // `options.timeout` applies here). If the member goes down before it answers, the run starts again
  // on another member hosting the target, with the same session id: with a journal all of them
  // share (PostgreSQL), it resumes after the last step that member committed. A member that is only
  // unreachable keeps the run (it may come back). Fails (in the handle) when no member that is up
  // hosts the target.
  RunHandle start_on(const std::string& target, std::string input, RunOptions options = {},
                     const std::string& member = {});
  // start_on, reporting the run's events as Runtime::stream does: the member running it relays
  // every event (model text, nodes, tools, with their step paths) before its result. Backpressure
  // ends at the network: the member sends events as they come. After a fail-over the resumed
  // run's events follow (its replayed steps marked `replayed`).
  EventStream stream_on(const std::string& target, std::string input, RunOptions options = {},
                        StreamOptions stream_options = {}, const std::string& member = {});

  struct Impl;

 private:
  friend struct internal::Access;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The membership as the member at `address` sees it, asked the way `loomflow cluster status`
// does: this process authenticates like a member (role `client`, never listed), asks, and leaves.
[[nodiscard]] Expected<std::vector<MemberStatus>> query_members(const std::string& address,
                                                                const ClusterAccess& access);

// "host:port" -> its parts; an error naming `what` on anything else.
[[nodiscard]] Expected<std::pair<std::string, std::uint16_t>> parse_address(const std::string& address,
                                                                            const std::string& what);

}  // namespace loomflow::cluster
