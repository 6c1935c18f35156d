#include "loomflow/cluster/call_channel.hpp"

#include <chrono>
#include <cerrno>
#include <future>
#include <mutex>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/all.hpp>
#include <caf/io/network/native_socket.hpp>

#include <sys/socket.h>

#include "loomflow/actors/messages.hpp"
#include "loomflow/cluster/auth.hpp"

namespace loomflow::cluster {

namespace {

using caf::io::connection_handle;
using caf::io::receive_policy;

constexpr std::uint32_t kMaxFrame = 64u * 1024u * 1024u;  // length field: id + payload
constexpr std::size_t kLengthSize = 4;
constexpr std::size_t kIdSize = 8;
constexpr std::uint64_t kHandshakeId = 0;
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr const char* kClientLabel = "call-client";
constexpr const char* kServerLabel = "call-server";

using handshake_timeout_atom = caf::atom_constant<caf::atom("cchtimeout")>;

std::uint32_t read_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | std::uint32_t{u[3]};
}

std::uint64_t read_u64(const char* p) {
  return (std::uint64_t{read_u32(p)} << 32) | std::uint64_t{read_u32(p + 4)};
}

void write_u32(char* p, std::uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

void write_u64(char* p, std::uint64_t v) {
  write_u32(p, static_cast<std::uint32_t>(v >> 32));
  write_u32(p + 4, static_cast<std::uint32_t>(v));
}

// Serializes one frame straight into the connection's write buffer (no intermediate copy) and
// flushes it. False (and nothing written) when serialization fails or the frame is too big.
template <class Self, class... Ts>
bool send_frame(Self* self, connection_handle hdl, std::uint64_t id, Ts&... xs) {
  if (!self->valid(hdl)) return false;
  auto& buf = self->wr_buf(hdl);
  const auto start = buf.size();
  buf.resize(start + kLengthSize + kIdSize);
  caf::binary_serializer sink{self->context(), buf};
  auto err = sink(xs...);
  const auto length = buf.size() - start - kLengthSize;
  if (err || length > kMaxFrame) {
    buf.resize(start);
    return false;
  }
  write_u32(buf.data() + start, static_cast<std::uint32_t>(length));
  write_u64(buf.data() + start + kLengthSize, id);
  self->flush(hdl);
  return true;
}

// Decoding context. CAF 0.17 deserializes actor handles (run_context's, always empty here) only
// with a proxy registry at hand, even empty ones; this one makes no proxies: a handle naming another
// node decodes as empty — the channel never carries actor references.
class Decoder : caf::proxy_registry::backend {
 public:
  explicit Decoder(caf::actor_system& system) : registry_(system, *this), unit_(&system) {
    unit_.proxy_registry_ptr(&registry_);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  ~Decoder() override = default;

  // Decodes a frame body ([id][payload]); true when the payload holds exactly `xs`.
  template <class... Ts>
  bool operator()(const std::vector<char>& body, Ts&... xs) {
    caf::binary_deserializer source{&unit_, body.data() + kIdSize, body.size() - kIdSize};
    return !source(xs...) && source.remaining() == 0;
  }

 private:
  caf::strong_actor_ptr make_proxy(caf::node_id, caf::actor_id) override { return nullptr; }
  void set_last_hop(caf::node_id*) override {}

  caf::proxy_registry registry_;
  caf::scoped_execution_unit unit_;
};

void set_no_delay(connection_handle hdl) {
  // The default multiplexer's connection handles are the native sockets.
  (void)caf::io::network::tcp_nodelay(static_cast<caf::io::network::native_socket>(hdl.id()), true);
}

using write_atom = caf::atom_constant<caf::atom("ccwrite")>;

// Encodes one frame into `buf` (cleared first). False when serialization fails or it is too big.
template <class... Ts>
bool encode(caf::execution_unit* ctx, std::vector<char>& buf, std::uint64_t id, Ts&... xs) {
  buf.resize(kLengthSize + kIdSize);
  caf::binary_serializer sink{ctx, buf};
  const bool ok = !sink(xs...) && buf.size() - kLengthSize <= kMaxFrame;
  if (ok) {
    write_u32(buf.data(), static_cast<std::uint32_t>(buf.size() - kLengthSize));
    write_u64(buf.data() + kLengthSize, id);
  }
  return ok;
}

// Writes frames from a scheduled actor straight to the socket (the broker keeps reading it), so an
// outgoing frame costs no hop to the multiplexer thread. When the kernel does not take a whole frame
// (a full socket buffer: large or many frames), the rest and every later frame go to the broker,
// which queues them in its scribe: order is kept because the switch happens once and for good.
struct DirectWriter {
  caf::io::network::native_socket fd;
  caf::actor broker;
  bool direct = true;
  std::vector<char> buf;  // reused: no allocation per frame once warm

  template <class Self>
  void write(Self* self) {
    std::size_t sent = 0;
    if (direct) {
      while (sent < buf.size()) {
        auto n = ::send(fd, buf.data() + sent, buf.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          sent += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          break;  // EAGAIN, or a broken connection: the broker reports the latter when it reads
        }
      }
      if (sent == buf.size()) return;
      direct = false;
    }
    self->send(broker, write_atom::value, std::vector<char>(buf.begin() + static_cast<std::ptrdiff_t>(sent), buf.end()));
  }
};

template <class Self>
void write_via_scribe(Self* self, connection_handle hdl, const std::vector<char>& bytes) {
  if (!self->valid(hdl)) return;
  auto& out = self->wr_buf(hdl);
  out.insert(out.end(), bytes.begin(), bytes.end());
  self->flush(hdl);
}

// Reads frames: the 4-byte length, then exactly that many bytes. `on_header` returns false for a
// length it refuses.
struct FrameReader {
  bool want_header = true;

  void start(caf::io::abstract_broker* self, connection_handle hdl) {
    want_header = true;
    self->configure_read(hdl, receive_policy::exactly(kLengthSize));
  }

  // Returns true when `buf` is a complete body ([id][payload]); false for a header (handled here)
  // or a refused length (then `*bad` is set).
  bool next(caf::io::abstract_broker* self, connection_handle hdl, const std::vector<char>& buf, bool* bad) {
    if (want_header) {
      const auto length = buf.size() == kLengthSize ? read_u32(buf.data()) : 0;
      if (length < kIdSize || length > kMaxFrame) {
        *bad = true;
        return false;
      }
      want_header = false;
      self->configure_read(hdl, receive_policy::exactly(length));
      return false;
    }
    want_header = true;
    self->configure_read(hdl, receive_policy::exactly(kLengthSize));
    return true;
  }
};

// ---- server ----------------------------------------------------------------------------------------

// Per connection, on the scheduler: asks the target (the request and its answer stay on the worker
// thread) and writes the answer straight to the socket.
struct server_writer_state {
  DirectWriter out;
  static inline const char* name = "loomflow.call_server_writer";
};

caf::behavior write_answers(caf::stateful_actor<server_writer_state>* self, caf::actor broker,
                            caf::io::network::native_socket fd, actors::tool_actor target) {
  self->link_to(broker);
  self->state.out.fd = fd;
  self->state.out.broker = std::move(broker);
  auto answer = [self](std::uint64_t id, actors::tool_result& result) {
    auto& out = self->state.out;
    if (!encode(self->context(), out.buf, id, result)) {
      actors::tool_result failed{"error: the tool result could not be serialized (or is over 64 MiB)", true, {}, {}};
      encode(self->context(), out.buf, id, failed);
    }
    out.write(self);
  };
  return {
      [=](std::uint64_t id, actors::tool_invocation& inv) {
        self->request(target, caf::infinite, std::move(inv))
            .then([=](actors::tool_result& result) { answer(id, result); },
                  [=](caf::error& err) {
                    actors::tool_result failed{"error: " + self->system().render(err), true, {}, {}};
                    answer(id, failed);
                  });
      },
  };
}

struct server_conn_state {
  std::string secret;
  actors::tool_actor target;
  connection_handle hdl;
  std::string nonce;
  bool authenticated = false;
  caf::actor writer;  // once authenticated
  FrameReader reader;
  std::unique_ptr<Decoder> decode;
  static inline const char* name = "loomflow.call_server_connection";
};

using server_conn_broker = caf::io::stateful_broker<server_conn_state>;

caf::behavior serve_connection(server_conn_broker* self, connection_handle hdl, std::string secret,
                               actors::tool_actor target) {
  auto& st = self->state;
  st.secret = std::move(secret);
  st.target = std::move(target);
  st.hdl = hdl;
  st.nonce = make_nonce();
  st.decode = std::make_unique<Decoder>(self->system());
  st.reader.start(self, hdl);
  send_frame(self, hdl, kHandshakeId, st.nonce);
  self->delayed_send(self, kHandshakeTimeout, handshake_timeout_atom::value);
  auto drop = [self] {
    self->close(self->state.hdl);
    self->quit();
  };
  return {
      [=](const caf::io::new_data_msg& msg) {
        auto& st = self->state;
        bool bad = false;
        if (!st.reader.next(self, msg.handle, msg.buf, &bad)) {
          if (bad) drop();
          return;
        }
        const std::uint64_t id = read_u64(msg.buf.data());
        if (!st.authenticated) {
          std::string their_nonce;
          std::string proof;
          if (id != kHandshakeId || !(*st.decode)(msg.buf, their_nonce, proof)) {
            drop();
            return;
          }
          bool accepted = !st.nonce.empty() && !their_nonce.empty() &&
                          proof_matches(make_proof(st.secret, kClientLabel, st.nonce, their_nonce), proof);
          std::string mine = accepted ? make_proof(st.secret, kServerLabel, their_nonce, st.nonce) : std::string{};
          send_frame(self, st.hdl, kHandshakeId, accepted, mine);
          if (!accepted) {
            drop();  // graceful: the refusal is written first
            return;
          }
          st.authenticated = true;
          // The writer's first frame answers a call, which the client sends only after it read the
          // acceptance: the scribe has written everything by then.
          st.writer = self->spawn(write_answers, caf::actor_cast<caf::actor>(self),
                                  static_cast<caf::io::network::native_socket>(st.hdl.id()), st.target);
          return;
        }
        actors::tool_invocation inv;
        if (id == kHandshakeId || !(*st.decode)(msg.buf, inv)) {
          drop();
          return;
        }
        self->send(st.writer, id, std::move(inv));
      },
      [=](write_atom, const std::vector<char>& bytes) { write_via_scribe(self, self->state.hdl, bytes); },
      [=](const caf::io::connection_closed_msg&) { self->quit(); },
      [=](handshake_timeout_atom) {
        if (!self->state.authenticated) drop();
      },
  };
}

caf::behavior accept_calls(caf::io::broker* self, caf::io::doorman_ptr doorman, std::string secret,
                           actors::tool_actor target) {
  self->add_doorman(std::move(doorman));
  return {
      [=](const caf::io::new_connection_msg& msg) {
        set_no_delay(msg.handle);
        // Linked: stopping the listener (its member stops) closes its connections too.
        auto connection = self->fork(serve_connection, msg.handle, secret, target);
        self->link_to(connection);
      },
      [=](const caf::io::acceptor_closed_msg&) { self->quit(); },
  };
}

// ---- client ----------------------------------------------------------------------------------------
//
// Two actors per connection: the front (returned; a scheduled actor) takes the requests and writes
// their frames straight to the socket; the broker does the handshake, reads the answers and hands
// each one directly to its requester (one hop: multiplexer -> requester). They share the table of
// calls in flight; they are linked, so either one's end ends the other.

// Who waits for an answer: the request's sender, id and forwarding stages (what a response promise
// keeps); answered from the broker with its own execution context (see deliver).
struct Waiter {
  caf::strong_actor_ptr sender;
  caf::message_id mid;
  caf::mailbox_element::forwarding_stack stages;
};

struct InFlight {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, Waiter> calls;  // guarded by mutex
  bool closed = false;                              // guarded by mutex
  caf::error why;                                   // guarded by mutex: set with closed
  caf::io::network::native_socket fd = -1;          // set by the broker before the handshake ends
};

// Mirrors response_promise::deliver, but enqueues with the caller's execution unit `ctx` (the
// multiplexer): a response promise made by the front would use the front's last worker, which
// does not wake the requester's worker when called from another thread.
void deliver(Waiter& w, caf::message msg, const caf::strong_actor_ptr& responder, caf::execution_unit* ctx) {
  if (w.stages.empty()) {
    if (w.sender && w.mid.is_request()) w.sender->enqueue(responder, w.mid.response_id(), std::move(msg), ctx);
    return;
  }
  auto next = std::move(w.stages.back());
  w.stages.pop_back();
  next->enqueue(caf::make_mailbox_element(std::move(w.sender), w.mid, std::move(w.stages), std::move(msg)), ctx);
}

struct client_state {
  std::string secret;
  std::string where;  // host:port, for messages
  connection_handle hdl;
  FrameReader reader;
  enum class phase { challenge, proof, ready } at = phase::challenge;
  std::string nonce;         // ours
  std::string their_nonce;   // the server's
  std::shared_ptr<std::promise<Expected<void>>> ready;  // until the handshake ends
  std::shared_ptr<InFlight> in_flight;
  std::unique_ptr<Decoder> decode;
  static inline const char* name = "loomflow.call_client";

  void handshake_done(Expected<void> outcome) {
    if (ready) {
      ready->set_value(std::move(outcome));
      ready.reset();
    }
  }
};

using client_broker = caf::io::stateful_broker<client_state>;

caf::behavior call_client(client_broker* self, connection_handle hdl, std::string secret, std::string where,
                          std::shared_ptr<std::promise<Expected<void>>> ready, std::shared_ptr<InFlight> in_flight) {
  auto& st = self->state;
  st.secret = std::move(secret);
  st.where = std::move(where);
  st.hdl = hdl;
  st.ready = std::move(ready);
  st.in_flight = std::move(in_flight);
  st.in_flight->fd = static_cast<caf::io::network::native_socket>(hdl.id());  // read after `ready` is set
  st.decode = std::make_unique<Decoder>(self->system());
  set_no_delay(hdl);
  st.reader.start(self, hdl);
  // Shuts the channel: fails the handshake (if still running) and every call in flight.
  auto shut = [self](caf::error why, Error handshake_error) {
    auto& st = self->state;
    st.handshake_done(std::move(handshake_error));
    std::unordered_map<std::uint64_t, Waiter> calls;
    {
      std::lock_guard<std::mutex> guard{st.in_flight->mutex};
      st.in_flight->closed = true;
      st.in_flight->why = why;
      calls.swap(st.in_flight->calls);
    }
    for (auto& [id, waiter] : calls) deliver(waiter, caf::make_message(why), self->ctrl(), self->context());
    self->close(st.hdl);
    self->quit(std::move(why));
  };
  auto closed = [self](const std::string& how) {
    return caf::make_error(caf::sec::socket_disconnected, "call channel to " + self->state.where + " " + how);
  };
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto why = msg.reason ? msg.reason : caf::error{caf::exit_reason::user_shutdown};
    shut(closed("closed: the client was told to exit (" + self->system().render(why) + ")"),
         Error{ErrorCode::unavailable, self->state.where + ": the call client was stopped during the handshake"});
  });
  return {
      [=](const caf::io::new_data_msg& msg) {
        auto& st = self->state;
        bool bad = false;
        if (!st.reader.next(self, msg.handle, msg.buf, &bad)) {
          if (bad)
            shut(closed("closed: the server sent a malformed or oversized frame"),
                 Error{ErrorCode::unavailable, st.where + ": the call server sent a malformed frame"});
          return;
        }
        const std::uint64_t id = read_u64(msg.buf.data());
        if (st.at == client_state::phase::ready) {
          actors::tool_result result;
          if (id == kHandshakeId || !(*st.decode)(msg.buf, result)) {
            shut(closed("closed: the server sent an undecodable answer"), Error{});
            return;
          }
          Waiter waiter;
          {
            std::lock_guard<std::mutex> guard{st.in_flight->mutex};
            auto i = st.in_flight->calls.find(id);
            if (i == st.in_flight->calls.end()) return;  // not ours (cannot happen with a well-behaved server)
            waiter = std::move(i->second);
            st.in_flight->calls.erase(i);
          }
          deliver(waiter, caf::make_message(std::move(result)), self->ctrl(), self->context());
          return;
        }
        auto malformed = [&] {
          shut(closed("closed during the handshake"),
               Error{ErrorCode::unavailable, st.where + ": the call server's handshake is malformed"});
        };
        if (id != kHandshakeId) {
          malformed();
          return;
        }
        if (st.at == client_state::phase::challenge) {
          if (!(*st.decode)(msg.buf, st.their_nonce) || st.their_nonce.empty()) {
            malformed();
            return;
          }
          st.nonce = make_nonce();
          auto proof = make_proof(st.secret, kClientLabel, st.their_nonce, st.nonce);
          send_frame(self, st.hdl, kHandshakeId, st.nonce, proof);
          st.at = client_state::phase::proof;
          return;
        }
        bool accepted = false;
        std::string proof;
        if (!(*st.decode)(msg.buf, accepted, proof)) {
          malformed();
          return;
        }
        if (!accepted || !proof_matches(make_proof(st.secret, kServerLabel, st.nonce, st.their_nonce), proof)) {
          std::string text = "the call server at " + st.where +
                             (accepted ? " does not prove the cluster secret" : " refused this side's proof");
          shut(closed("closed: authentication failed"),
               Error{ErrorCode::permission_denied,
                     text + " — wrong cluster secret (the secrets differ, or one side has none)"});
          return;
        }
        st.at = client_state::phase::ready;
        st.handshake_done({});
      },
      [=](write_atom, const std::vector<char>& bytes) { write_via_scribe(self, self->state.hdl, bytes); },
      [=](const caf::io::connection_closed_msg&) {
        shut(closed("closed (the server went away or the connection failed)"),
             Error{ErrorCode::unavailable, self->state.where + ": the call server closed the connection during the "
                                                               "handshake"});
      },
  };
}

struct front_state {
  DirectWriter out;
  std::shared_ptr<InFlight> in_flight;
  std::uint64_t next_id = 1;
  static inline const char* name = "loomflow.call_client_front";
};

caf::behavior call_front(caf::stateful_actor<front_state>* self, caf::actor broker,
                         caf::io::network::native_socket fd, std::shared_ptr<InFlight> in_flight, std::string where) {
  self->link_to(broker);
  self->state.out.fd = fd;
  self->state.out.broker = std::move(broker);
  self->state.in_flight = std::move(in_flight);
  self->state.out.buf.reserve(4096);
  return {
      [=](actors::tool_invocation& inv) -> caf::result<actors::tool_result> {
        auto& st = self->state;
        const auto id = st.next_id++;
        if (!encode(self->context(), st.out.buf, id, inv))
          return caf::make_error(caf::sec::invalid_argument, "call channel to " + where +
                                                                 ": the tool invocation cannot be sent (not "
                                                                 "serializable, or over 64 MiB)");
        auto* current = self->current_mailbox_element();
        {
          std::lock_guard<std::mutex> guard{st.in_flight->mutex};
          if (st.in_flight->closed) return st.in_flight->why;
          // Registered before the frame leaves: the answer may arrive at once.
          st.in_flight->calls.emplace(id, Waiter{current->sender, current->mid, std::move(current->stages)});
        }
        self->drop_current_message_id();  // the broker answers
        st.out.write(self);
        return caf::delegated<actors::tool_result>{};
      },
  };
}

}  // namespace

Expected<CallServer> spawn_call_server(caf::actor_system& system, const std::string& host, std::uint16_t port,
                                       std::string secret, actors::tool_actor target) {
  if (!target) return Error{ErrorCode::invalid_argument, "spawn_call_server: no target tool actor"};
  auto& mm = system.middleman();
  const char* in = host.empty() ? nullptr : host.c_str();
  auto doorman = mm.backend().new_tcp_doorman(port, in, true);
  if (!doorman)
    return Error{ErrorCode::unavailable, "cannot listen for tool calls on " + (host.empty() ? "*" : host) + ":" +
                                             std::to_string(port) + ": " + system.render(doorman.error())};
  const auto bound = (*doorman)->port();
  auto listener = mm.spawn_broker(accept_calls, std::move(*doorman), std::move(secret), std::move(target));
  return CallServer{bound, std::move(listener)};
}

Expected<actors::tool_actor> spawn_call_client(caf::actor_system& system, const std::string& host, std::uint16_t port,
                                               std::string secret) {
  const std::string where = host + ":" + std::to_string(port);
  auto ready = std::make_shared<std::promise<Expected<void>>>();
  auto outcome = ready->get_future();
  auto in_flight = std::make_shared<InFlight>();
  auto client = system.middleman().spawn_client(call_client, host, port, std::move(secret), where, std::move(ready),
                                                in_flight);
  if (!client)
    return Error{ErrorCode::unavailable, "cannot reach the call server at " + where + ": " +
                                             system.render(client.error())};
  if (outcome.wait_for(kHandshakeTimeout + std::chrono::seconds(1)) != std::future_status::ready) {
    caf::anon_send_exit(*client, caf::exit_reason::kill);
    return Error{ErrorCode::unavailable, "the call server at " + where + " did not finish the handshake in time"};
  }
  auto done = outcome.get();
  if (!done) return done.error();
  // The handshake's last write (the client's proof) was read by the server before it accepted: the
  // front may write to the socket directly from now on.
  const auto fd = in_flight->fd;
  auto front = system.spawn(call_front, *client, fd, std::move(in_flight), where);
  return caf::actor_cast<actors::tool_actor>(std::move(front));
}

}  // namespace loomflow::cluster
