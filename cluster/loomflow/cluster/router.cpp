// The tool router: dispatches remote tool calls to the workers serving them (fewest outstanding
// calls first, at most `capacity` each), queues the rest, and re-dispatches the calls of a worker
// that is lost. Calls travel on a worker's call channel (call_channel.hpp) once it is connected —
// a detached actor connects it, since that blocks — and over CAF's own connection until then (and
// always under TLS, where workers offer no channel).
#include <deque>
#include <map>
#include <unordered_map>

#include <caf/all.hpp>

#include "loomflow/cluster/call_channel.hpp"
#include "loomflow/cluster/member.hpp"

namespace loomflow::cluster {

namespace {

struct Worker {
  MemberInfo info;
  member_actor handle;
  bool usable = false;
  std::uint32_t outstanding = 0;
  actors::tool_actor channel;  // its call channel, once connected
  bool connecting = false;
  bool serves(const std::string& tool) const {
    for (const auto& t : info.tools)
      if (t.spec.name == tool) return true;
    return false;
  }
  bool has_room() const { return usable && (info.capacity == 0 || outstanding < info.capacity); }
};

struct Call {
  actors::tool_invocation inv;
  caf::typed_response_promise<actors::tool_result> promise;
  std::string worker;         // empty: waiting in line
  std::uint32_t attempts = 0;  // dispatches so far
  std::string last_loss;       // why the previous worker was given up
};

struct RouterState {
  RouterSettings settings;
  std::map<std::string, Worker> workers;  // by member name
  std::unordered_map<std::uint64_t, Call> calls;
  std::map<std::string, std::deque<std::uint64_t>> waiting;  // by tool, in arrival order
  std::uint64_t next_id = 1;
  std::size_t rotation = 0;  // breaks ties between equally loaded workers
  static inline const char* name = "loomflow.cluster.router";
};

using self_ptr = router_actor::stateful_pointer<RouterState>;

actors::tool_result tool_error(std::string text) { return actors::tool_result{"error: " + std::move(text), true, {}, {}}; }

bool anyone_serves(self_ptr self, const std::string& tool) {
  for (const auto& [name, w] : self->state.workers)
    if (w.usable && w.serves(tool)) return true;
  return false;
}

Worker* pick(self_ptr self, const std::string& tool) {
  auto& st = self->state;
  Worker* best = nullptr;
  std::size_t index = 0, best_rank = 0;
  const std::size_t count = st.workers.size();
  for (auto& [name, w] : st.workers) {
    const std::size_t rank = (index++ + count - st.rotation % count) % count;  // rotate ties
    if (!w.has_room() || !w.serves(tool)) continue;
    if (!best || w.outstanding < best->outstanding || (w.outstanding == best->outstanding && rank < best_rank)) {
      best = &w;
      best_rank = rank;
    }
  }
  ++st.rotation;
  return best;
}

void dispatch(self_ptr self, std::uint64_t id);

void finish(self_ptr self, std::uint64_t id, actors::tool_result result) {
  auto it = self->state.calls.find(id);
  if (it == self->state.calls.end()) return;
  it->second.promise.deliver(std::move(result));
  self->state.calls.erase(it);
}

// Dispatches waiting calls of the tools `w` serves while it has room.
void pump(self_ptr self, const Worker& w) {
  for (const auto& tool : w.info.tools) {
    auto queue = self->state.waiting.find(tool.spec.name);
    while (queue != self->state.waiting.end() && !queue->second.empty() && w.has_room()) {
      const auto id = queue->second.front();
      queue->second.pop_front();
      dispatch(self, id);
    }
  }
}

// The call's worker was lost (or failed to answer): count it off, then try another.
void redispatch(self_ptr self, std::uint64_t id, std::string why) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end()) return;
  auto& call = it->second;
  if (auto w = st.workers.find(call.worker); w != st.workers.end() && w->second.outstanding > 0) --w->second.outstanding;
  call.worker.clear();
  call.last_loss = std::move(why);
  // The worker may have started it: the next one must know, and gets the same idempotency key.
  call.inv.redelivery = true;
  if (call.attempts >= st.settings.max_dispatch_attempts) {
    finish(self, id,
           tool_error("tool '" + call.inv.call.name + "': dispatched " + std::to_string(call.attempts) +
                      " times, and every worker was lost before answering (last: " + call.last_loss + ")"));
    return;
  }
  dispatch(self, id);
}

void dispatch(self_ptr self, std::uint64_t id) {
  auto& st = self->state;
  auto& call = st.calls.at(id);
  const auto& tool = call.inv.call.name;
  Worker* w = pick(self, tool);
  if (!w) {
    st.waiting[tool].push_back(id);
    if (!anyone_serves(self, tool)) self->delayed_send(self, st.settings.unserved_timeout, unserved_atom::value, id);
    return;
  }
  ++w->outstanding;
  call.worker = w->info.name;
  const auto attempt = ++call.attempts;
  auto target = w->channel ? w->channel : caf::actor_cast<actors::tool_actor>(w->handle);
  self->request(target, caf::infinite, call.inv)
      .then(
          [self, id, attempt](actors::tool_result& result) {
            auto it = self->state.calls.find(id);
            if (it == self->state.calls.end() || it->second.attempts != attempt || it->second.worker.empty())
              return;  // re-dispatched meanwhile: the other answer counts
            auto w = self->state.workers.find(it->second.worker);
            finish(self, id, std::move(result));
            if (w != self->state.workers.end()) {
              if (w->second.outstanding > 0) --w->second.outstanding;
              pump(self, w->second);
            }
          },
          [self, id, attempt](caf::error& err) {
            auto it = self->state.calls.find(id);
            if (it == self->state.calls.end() || it->second.attempts != attempt || it->second.worker.empty()) return;
            redispatch(self, id, "worker '" + it->second.worker + "': " + caf::to_string(err));
          });
}

// Connects the worker's call channel off the scheduler (spawn_call_client blocks).
void connect_channel(self_ptr self, Worker& w) {
  if (w.channel || w.connecting || !w.usable || w.info.call_address.empty()) return;
  auto where = parse_address(w.info.call_address, "call address");
  if (!where) return;  // stays on CAF's connection
  w.connecting = true;
  self->spawn<caf::detached>([router = caf::actor_cast<router_actor>(self), where = *where, name = w.info.name,
                              incarnation = w.info.incarnation, secret = self->state.settings.secret](
                                 caf::event_based_actor* me) {
    auto channel = spawn_call_client(me->system(), where.first, where.second, secret);
    if (channel) {
      me->send(router, channel_atom::value, name, incarnation, caf::actor_cast<caf::actor>(*channel), std::string());
    } else {
      me->send(router, channel_atom::value, name, incarnation, caf::actor{}, channel.error().message);
    }
    me->quit();
  });
}

// The router's handle reaches workers (as the sender of its calls): it takes messages from this
// process only — never tool calls or worker news from the network.
bool is_local(self_ptr self) {
  const auto& sender = self->current_sender();
  return sender && sender->node() == self->node();
}

router_actor::behavior_type router(self_ptr self, RouterSettings settings) {
  self->state.settings = settings;
  // Stopping: close the call channels too (their actors would keep the system up).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [name, w] : self->state.workers)
      if (w.channel) caf::anon_send_exit(w.channel, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  // A channel that closed: its calls fail (and are re-dispatched) on their own; forget it.
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [name, w] : self->state.workers)
      if (w.channel && w.channel.address() == msg.source) w.channel = nullptr;
  });
  return {
      [self](actors::tool_invocation& inv) -> caf::typed_response_promise<actors::tool_result> {
        auto& st = self->state;
        const bool local = is_local(self);  // before the promise takes the sender over
        auto promise = self->make_response_promise<actors::tool_result>();
        if (!local) {
          promise.deliver(tool_error("refused: tool calls come from this node's own runs"));
          return promise;
        }
        // Workers need names and data only: the run's local actors stay here.
        inv.ctx.root = nullptr;
        inv.ctx.journal = nullptr;
        inv.ctx.replay = nullptr;
        inv.ctx.events = nullptr;
        const auto id = st.next_id++;
        st.calls.emplace(id, Call{std::move(inv), promise, {}, 0, {}});
        dispatch(self, id);
        return promise;
      },
      [self](worker_update& update) {
        if (!is_local(self)) return;
        auto& st = self->state;
        auto& w = st.workers[update.info.name];
        const bool restarted = w.info.incarnation != 0 && w.info.incarnation != update.info.incarnation;
        w.info = std::move(update.info);
        w.handle = caf::actor_cast<member_actor>(update.member);
        w.usable = update.usable;
        if (!w.usable || restarted) {
          std::vector<std::uint64_t> held;
          for (const auto& [id, call] : st.calls)
            if (call.worker == w.info.name) held.push_back(id);
          const std::string why = "worker '" + w.info.name + "' became unreachable or went down";
          for (auto id : held) redispatch(self, id, why);
          if (!w.usable) w.outstanding = 0;
        }
        if (!w.usable && w.channel) {
          caf::anon_send_exit(w.channel, caf::exit_reason::user_shutdown);
          w.channel = nullptr;
        }
        if (restarted && w.channel) {
          caf::anon_send_exit(w.channel, caf::exit_reason::user_shutdown);
          w.channel = nullptr;
        }
        connect_channel(self, w);
        if (w.usable) pump(self, w);
      },
      [self](channel_atom, std::string& name, std::uint64_t incarnation, caf::actor& channel, std::string& error) {
        if (!is_local(self)) return;
        auto it = self->state.workers.find(name);
        const bool current = it != self->state.workers.end() && it->second.info.incarnation == incarnation;
        if (current) it->second.connecting = false;
        if (!channel) return;  // `error` says why; calls keep using CAF's connection
        if (!current || !it->second.usable) {
          caf::anon_send_exit(channel, caf::exit_reason::user_shutdown);
          return;
        }
        it->second.channel = caf::actor_cast<actors::tool_actor>(channel);
        self->monitor(channel);
      },
      [self](unserved_atom, std::uint64_t id) {
        if (!is_local(self)) return;
        auto& st = self->state;
        auto it = st.calls.find(id);
        if (it == st.calls.end() || !it->second.worker.empty()) return;
        const auto tool = it->second.inv.call.name;
        if (anyone_serves(self, tool)) return;  // it waits for room, not for a worker
        auto& queue = st.waiting[tool];
        queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
        std::string text = "no member of the cluster serves tool '" + tool + "' (waited " +
                           std::to_string(st.settings.unserved_timeout.count()) + " ms)";
        if (!it->second.last_loss.empty()) text += "; its last worker was lost: " + it->second.last_loss;
        finish(self, id, tool_error(std::move(text)));
      },
  };
}

}  // namespace

router_actor spawn_router(caf::actor_system& system, RouterSettings settings) {
  return system.spawn(router, settings);
}

}  // namespace loomflow::cluster
