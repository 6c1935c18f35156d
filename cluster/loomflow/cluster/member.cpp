// The member actor: gate, membership, failure detector, joiner and (on workers) tool-call entry.
#include "loomflow/cluster/member.hpp"

#include <algorithm>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>

#include "loomflow/cluster/auth.hpp"
#include "loomflow/cluster/handshake.hpp"

namespace loomflow::cluster {

void MembershipView::publish(std::vector<MemberStatus> now) {
  {
    std::lock_guard<std::mutex> guard(mutex);
    members = std::move(now);
  }
  changed.notify_all();
}

void MembershipView::seed_answered(const std::string& seed, Error outcome) {
  {
    std::lock_guard<std::mutex> guard(mutex);
    if (outcome.code == ErrorCode::ok) joined = true;
    seed_outcomes[seed] = std::move(outcome);
  }
  changed.notify_all();
}

namespace {

using clock = std::chrono::steady_clock;

struct Peer {
  MemberInfo info;
  member_actor handle;
  caf::node_id node;
  MemberState state = MemberState::up;
  clock::time_point last_heard;
};

// A challenge handed out and not answered yet.
struct Pending {
  std::string their_nonce;
  std::string name;
  caf::node_id node;
  clock::time_point expires;
};

// A run this member hosts for a requester.
struct HostedRun {
  caf::typed_response_promise<actors::node_result> promise;
  RunHandle handle;
  std::shared_ptr<EventStream> stream;  // streamed: relayed to `sink`, every event before the result
  remote_run_actor sink;
  std::optional<actors::node_result> result;
  bool events_done = true;
};

struct MemberActorState {
  MemberSettings settings;
  std::unordered_map<std::uint64_t, HostedRun> hosting;
  std::uint64_t next_run = 1;
  std::map<std::string, std::uint32_t> placed;  // this member's remote runs in flight, by host
  std::map<std::string, Peer> peers;  // by name
  std::set<caf::node_id> trusted;     // nodes that completed a handshake with us
  std::map<std::string, Pending> challenges;  // by our nonce
  std::set<std::string> connecting;   // addresses with a handshake in flight
  std::map<std::string, clock::time_point> next_attempt;  // seeds: when to try again
  bool listening = false;
  std::uint64_t token = 0;  // proves run_done/pump messages come from this process
  static inline const char* name = "loomflow.cluster.member";
};

using self_ptr = member_actor::stateful_pointer<MemberActorState>;

constexpr std::size_t kMaxDownKept = 64;
constexpr auto kRetryEvery = std::chrono::seconds(1);
constexpr auto kChallengeLifetime = std::chrono::seconds(30);

std::int64_t ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
}

std::vector<MemberStatus> snapshot(self_ptr self) {
  auto& st = self->state;
  std::vector<MemberStatus> out;
  out.push_back(MemberStatus{st.settings.self, MemberState::up, 0, true});
  for (const auto& [name, peer] : st.peers)
    out.push_back(MemberStatus{peer.info, peer.state, ms_since(peer.last_heard), false});
  return out;
}

void publish(self_ptr self) { self->state.settings.view->publish(snapshot(self)); }

// A message an actor of this process sent (not anonymous, not from the network).
bool is_local(self_ptr self) {
  const auto& sender = self->current_sender();
  return sender && sender->node() == self->node();
}

bool is_trusted(self_ptr self) {
  const auto& sender = self->current_sender();
  if (!sender) return false;
  return sender->node() == self->node() || self->state.trusted.count(sender->node()) > 0;
}

void tell_router(self_ptr self, const Peer& peer) {
  if (peer.info.tools.empty() || !self->state.settings.router) return;
  self->send(self->state.settings.router,
             worker_update{peer.info, caf::actor_cast<caf::actor>(peer.handle), peer.state == MemberState::up});
}

void changed(self_ptr self, const Peer& peer) {
  tell_router(self, peer);
  publish(self);
  if (self->state.settings.on_change) self->state.settings.on_change(MemberStatus{peer.info, peer.state, 0, false});
}

void set_state(self_ptr self, Peer& peer, MemberState state) {
  if (peer.state == state) return;
  peer.state = state;
  changed(self, peer);
}

// Forgets the oldest down members beyond kMaxDownKept.
void trim_down(self_ptr self) {
  auto& peers = self->state.peers;
  std::vector<std::map<std::string, Peer>::iterator> down;
  for (auto it = peers.begin(); it != peers.end(); ++it)
    if (it->second.state == MemberState::down) down.push_back(it);
  if (down.size() <= kMaxDownKept) return;
  std::sort(down.begin(), down.end(), [](auto a, auto b) { return a->second.last_heard < b->second.last_heard; });
  for (std::size_t i = 0; i + kMaxDownKept < down.size(); ++i) peers.erase(down[i]);
}

// A member authenticated (either direction): record it, watch it, tell whoever cares.
void admit(self_ptr self, const MemberInfo& info, member_actor handle, const caf::node_id& node) {
  auto& st = self->state;
  st.trusted.insert(node);
  auto it = st.peers.find(info.name);
  if (it != st.peers.end() && it->second.info.incarnation == info.incarnation && it->second.state != MemberState::down &&
      it->second.handle == handle) {
    it->second.last_heard = clock::now();
    return;  // both sides joined each other at once: already known
  }
  if (it != st.peers.end() && it->second.handle && it->second.handle != handle) self->demonitor(it->second.handle.address());
  Peer peer{info, handle, node, MemberState::down, clock::now()};
  self->monitor(handle);
  auto& slot = st.peers[info.name];
  slot = std::move(peer);
  set_state(self, slot, MemberState::up);
  trim_down(self);
}

bool known_up(self_ptr self, const std::string& address) {
  for (const auto& [name, peer] : self->state.peers)
    if (peer.info.address == address && peer.state != MemberState::down) return true;
  return false;
}

void connect(self_ptr self, const std::string& address) {
  auto& st = self->state;
  if (!st.listening || address == st.settings.self.address || st.connecting.count(address) > 0 ||
      known_up(self, address))
    return;
  st.connecting.insert(address);
  const bool seed =
      std::find(st.settings.seeds.begin(), st.settings.seeds.end(), address) != st.settings.seeds.end();
  handshake(self, st.settings.connector, address, st.settings.access, st.settings.self, caf::actor_cast<caf::actor>(self),
            [self](const caf::node_id& node) { self->state.trusted.insert(node); },
            [self, address, seed](Expected<Joined> joined) {
              auto& st = self->state;
              st.connecting.erase(address);
              if (seed) st.settings.view->seed_answered(address, joined ? Error{ErrorCode::ok, {}} : joined.error());
              if (!joined) {
                st.next_attempt[address] = clock::now() + kRetryEvery;
                return;
              }
              admit(self, joined->welcome.info, joined->gate, joined->node);
              for (const auto& m : joined->welcome.members)
                if (m.state == MemberState::up && m.info.role != MemberRole::client) connect(self, m.info.address);
            });
}

void tick(self_ptr self) {
  auto& st = self->state;
  const auto now = clock::now();
  const cluster_heartbeat beat{st.settings.self.name, st.settings.self.incarnation};
  for (auto& [name, peer] : st.peers) {
    if (peer.state == MemberState::down) continue;
    self->send(peer.handle, beat);
    if (peer.state == MemberState::up && now - peer.last_heard > st.settings.failure_timeout)
      set_state(self, peer, MemberState::unreachable);
  }
  for (const auto& seed : st.settings.seeds) {
    auto when = st.next_attempt.find(seed);
    if (when == st.next_attempt.end() || when->second <= now) {
      st.next_attempt[seed] = now + kRetryEvery;
      connect(self, seed);
    }
  }
  for (auto it = st.challenges.begin(); it != st.challenges.end();)
    it = it->second.expires < now ? st.challenges.erase(it) : std::next(it);
  publish(self);  // fresh last_heard figures
  self->delayed_send(self, st.settings.heartbeat_interval, tick_atom::value);
}

Error refusal(std::string why) { return Error{ErrorCode::permission_denied, std::move(why)}; }

actors::node_result failed_result(Error error) {
  actors::node_result r;
  r.error = std::move(error);
  return r;
}

actors::node_result to_node_result(const Expected<RunResult>& r) {
  if (!r) return failed_result(r.error());
  actors::node_result out;
  out.output = r->output;
  out.visited = r->visited;
  out.usage = r->usage;
  out.trace = r->trace;
  out.messages = r->messages;
  return out;
}

// A hosted run's answer goes out once it finished and — when streamed — its last event went out.
void finish_hosted(self_ptr self, std::uint64_t id) {
  auto it = self->state.hosting.find(id);
  if (it == self->state.hosting.end() || !it->second.result || !it->second.events_done) return;
  it->second.promise.deliver(std::move(*it->second.result));
  self->state.hosting.erase(it);
}

// Sends a streamed hosted run's buffered events to its requester.
void pump(self_ptr self, std::uint64_t id) {
  auto it = self->state.hosting.find(id);
  if (it == self->state.hosting.end() || !it->second.stream || it->second.events_done) return;
  auto& run = it->second;
  while (auto event = run.stream->try_next()) self->send(run.sink, remote_event_atom::value, std::move(*event));
  if (run.stream->ended()) {
    run.events_done = true;
    finish_hosted(self, id);
  }
}

bool hosts(const MemberInfo& info, const std::string& target) {
  return std::find(info.hosted.begin(), info.hosted.end(), target) != info.hosted.end();
}

// The member to run `target` on: `preferred` if given, else the one hosting it with the fewest of
// our runs in flight (this member included); never one of `excluded`.
placement place(self_ptr self, const std::string& target, const std::string& preferred,
                const std::vector<std::string>& excluded) {
  auto& st = self->state;
  auto is_excluded = [&](const std::string& name) {
    return std::find(excluded.begin(), excluded.end(), name) != excluded.end();
  };
  std::vector<std::pair<std::string, caf::actor>> candidates;
  if (hosts(st.settings.self, target) && !is_excluded(st.settings.self.name))
    candidates.emplace_back(st.settings.self.name, caf::actor_cast<caf::actor>(self));
  for (const auto& [name, peer] : st.peers)
    if (peer.state == MemberState::up && hosts(peer.info, target) && !is_excluded(name))
      candidates.emplace_back(name, caf::actor_cast<caf::actor>(peer.handle));
  if (!preferred.empty()) {
    auto it = std::find_if(candidates.begin(), candidates.end(), [&](const auto& c) { return c.first == preferred; });
    if (it == candidates.end())
      return placement{Error{ErrorCode::unavailable, "member '" + preferred + "' is not up, or does not host '" + target + "'"},
                       {}, {}};
    candidates = {*it};
  }
  if (candidates.empty())
    return placement{Error{ErrorCode::unavailable, "no member that is up hosts '" + target + "'" +
                                                        (excluded.empty() ? std::string() : " (others were lost)")},
                     {}, {}};
  auto best = std::min_element(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
    return st.placed[a.first] < st.placed[b.first];
  });
  ++st.placed[best->first];
  return placement{Error{ErrorCode::ok, {}}, best->first, best->second};
}

member_actor::behavior_type member(self_ptr self, MemberSettings settings) {
  self->state.settings = std::move(settings);
  self->state.token = std::random_device{}() * 0x100000000ull + std::random_device{}();
  // Stopping (the Node's Runtime ends): tell the others, so they need not wait for the failure detector.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    const cluster_leave leave{self->state.settings.self.name, self->state.settings.self.incarnation};
    for (auto& [name, peer] : self->state.peers)
      if (peer.state != MemberState::down) self->send(peer.handle, leave);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [name, peer] : self->state.peers)
      if (peer.handle && peer.handle.address() == msg.source) set_state(self, peer, MemberState::down);
  });
  return {
      [self](listening_atom, std::string& address, std::string& call_address) {
        auto& st = self->state;
        if (st.listening) return;  // once, from Node::start
        st.settings.self.address = address;
        st.settings.self.call_address = call_address;
        if (st.settings.self.name.empty()) st.settings.self.name = address;
        st.listening = true;
        tick(self);
      },
      [self](tick_atom) {
        if (self->current_sender().get() == self->ctrl()) tick(self);  // its own timer only
      },
      [self](cluster_hello& hello) -> cluster_challenge {
        auto& st = self->state;
        const auto& sender = self->current_sender();
        if (!sender) return {refusal("anonymous hello"), {}, {}};
        std::string nonce = make_nonce();
        st.challenges[nonce] = Pending{hello.nonce, hello.name, sender->node(), clock::now() + kChallengeLifetime};
        return {Error{ErrorCode::ok, {}}, nonce, make_proof(st.settings.access.secret, "gate", hello.nonce, nonce)};
      },
      [self](cluster_join& join) -> cluster_welcome {
        auto& st = self->state;
        const auto& sender = self->current_sender();
        auto pending = st.challenges.find(join.nonce);
        if (!sender || pending == st.challenges.end() || pending->second.node != sender->node() ||
            pending->second.name != join.info.name)
          return {refusal("no handshake in progress for this member"), st.settings.self, {}};
        auto expected = make_proof(st.settings.access.secret, "join", join.nonce, pending->second.their_nonce,
                                   join.info.name);
        st.challenges.erase(pending);
        if (!proof_matches(expected, join.proof))
          return {refusal("wrong cluster secret (the secrets differ, or one side has none)"), st.settings.self, {}};
        if (join.info.role == MemberRole::client) {
          st.trusted.insert(sender->node());
          return {Error{ErrorCode::ok, {}}, st.settings.self, snapshot(self)};
        }
        if (join.info.name == st.settings.self.name)
          return {refusal("member name '" + join.info.name + "' is this member's own"), st.settings.self, {}};
        auto same = st.peers.find(join.info.name);
        if (same != st.peers.end() && same->second.state != MemberState::down &&
            same->second.info.address != join.info.address)
          return {refusal("a member named '" + join.info.name + "' is already up at " + same->second.info.address),
                  st.settings.self, {}};
        if (!join.member) return {refusal("a member must name its member actor"), st.settings.self, {}};
        admit(self, join.info, caf::actor_cast<member_actor>(join.member), sender->node());
        return {Error{ErrorCode::ok, {}}, st.settings.self, snapshot(self)};
      },
      [self](cluster_heartbeat& beat) {
        if (!is_trusted(self)) return;
        auto it = self->state.peers.find(beat.name);
        if (it == self->state.peers.end() || it->second.info.incarnation != beat.incarnation) return;
        if (it->second.state == MemberState::down) return;  // its connection closed: it must join again
        it->second.last_heard = clock::now();
        set_state(self, it->second, MemberState::up);
      },
      [self](cluster_leave& leave) {
        if (!is_trusted(self)) return;
        auto it = self->state.peers.find(leave.name);
        if (it == self->state.peers.end() || it->second.info.incarnation != leave.incarnation) return;
        set_state(self, it->second, MemberState::down);
      },
      [self](remote_run& run) -> caf::typed_response_promise<actors::node_result> {
        auto& st = self->state;
        const bool trusted = is_trusted(self);  // before the promise takes the sender over
        auto promise = self->make_response_promise<actors::node_result>();
        if (!trusted) {
          promise.deliver(failed_result(refusal("the requester has not joined the cluster")));
          return promise;
        }
        const bool streamed = static_cast<bool>(run.events);
        auto started = (st.settings.start_hosted && *st.settings.start_hosted)
                           ? (*st.settings.start_hosted)(run.target, std::move(run.input),
                                                         RunOptions{.user_id = run.user_id,
                                                                    .session_id = run.session_id,
                                                                    .history = std::move(run.history)},
                                                         streamed)
                           : Expected<HostedStart>(Error{ErrorCode::unavailable, "this member hosts nothing yet"});
        if (!started) {
          promise.deliver(failed_result(started.error()));
          return promise;
        }
        const auto id = st.next_run++;
        auto me = caf::actor_cast<member_actor>(self);
        const auto token = st.token;
        HostedRun hosted{promise, started->handle, started->stream, caf::actor_cast<remote_run_actor>(run.events),
                         std::nullopt, !started->stream};
        st.hosting.emplace(id, std::move(hosted));
        if (started->stream) {
          started->stream->on_ready([me, id, token] { caf::anon_send(me, pump_atom::value, id, token); });
          pump(self, id);  // what was buffered before on_ready
        }
        started->handle.then([me, id, token](const Expected<RunResult>& r) {
          caf::anon_send(me, run_done_atom::value, id, token, to_node_result(r));
        });
        return promise;
      },
      [self](run_done_atom, std::uint64_t id, std::uint64_t token, actors::node_result& result) {
        if (token != self->state.token) return;
        auto it = self->state.hosting.find(id);
        if (it == self->state.hosting.end()) return;
        it->second.result = std::move(result);
        pump(self, id);
        finish_hosted(self, id);
      },
      [self](pump_atom, std::uint64_t id, std::uint64_t token) {
        if (token == self->state.token) pump(self, id);
      },
      [self](remote_cancel_atom, std::string& session) {
        if (!is_trusted(self)) return;
        for (auto& [id, run] : self->state.hosting)
          if (run.handle.session_id().str() == session) run.handle.cancel();
      },
      [self](place_atom, std::string& target, std::string& preferred,
             std::vector<std::string>& excluded) -> placement {
        if (!is_local(self)) return placement{refusal("placement is local"), {}, {}};
        return place(self, target, preferred, excluded);
      },
      [self](placed_atom, std::string& name) {
        if (!is_local(self)) return;
        auto it = self->state.placed.find(name);
        if (it != self->state.placed.end() && it->second > 0) --it->second;
      },
      [self](actors::tool_invocation& inv) -> caf::result<actors::tool_result> {
        if (!is_trusted(self))
          return actors::tool_result{"error: refused: the caller has not joined the cluster", true, {}, {}};
        auto it = self->state.settings.served.find(inv.call.name);
        if (it == self->state.settings.served.end())
          return actors::tool_result{"error: worker '" + self->state.settings.self.name + "' does not serve tool '" +
                                         inv.call.name + "'",
                                     true, {}, {}};
        return self->delegate(it->second, std::move(inv));
      },
  };
}

}  // namespace

member_actor spawn_member(caf::actor_system& system, MemberSettings settings) {
  return system.spawn(member, std::move(settings));
}

}  // namespace loomflow::cluster
