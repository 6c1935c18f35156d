// loomflow/cluster/call_channel.hpp — a dedicated low-latency channel for remote tool calls: one TCP
// connection per caller/worker pair, served by CAF brokers on the middleman's multiplexer thread,
// bypassing BASP (whose remote request/response costs several times more per round trip). Internal.
//
// Wire format. Every frame is [u32 big-endian length][u64 big-endian call id][payload], `length`
// counting the id and the payload (so >= 8); a length above 64 MiB closes the connection. Payloads
// are caf::binary_serializer output: a `tool_invocation` client→server, a `tool_result` back, tagged
// with the call's id (answers may come in any order). Id 0 is the handshake, which must complete
// before anything else is accepted (any other frame, a malformed one, or no proof within 10 s: the
// server closes the connection):
//   server → client  id 0, payload (nonce_s)
//   client → server  id 0, payload (nonce_c, make_proof(secret, "call-client", nonce_s, nonce_c))
//   server → client  id 0, payload (accepted, make_proof(secret, "call-server", nonce_c, nonce_s))
// With an empty secret every proof is empty and only an empty proof matches (auth.hpp): a side with
// a secret and one without refuse each other. The tool_invocation's run_context actor handles must
// be empty (the router clears them); the channel carries no actor references.
//
// Threads: brokers on the multiplexer read and do the handshakes; outgoing calls and answers are
// written to the socket directly by a scheduled actor per connection (falling back to the broker,
// for good, once the kernel does not take a whole frame), so each direction costs one thread hop.
//
// Thread-safety: both functions may be called from any thread; `spawn_call_client` blocks (TCP
// connect and the handshake, at most ~10 s), so call it from a detached actor or a thread outside
// the scheduler — never from a scheduled actor. The returned actors are ordinary CAF actors.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "loomflow/actors/interfaces.hpp"
#include "loomflow/error.hpp"

namespace loomflow::cluster {

// Serves tool calls arriving on a dedicated TCP listener bound to `host` ("" or "0.0.0.0": every
// interface; port 0: any free port, SO_REUSEADDR set). Each authenticated connection's frames are
// decoded into tool_invocations and sent as requests to `target` (no timeout: the target answers
// or fails); each answer goes back on the same connection, tagged with the call's id; a failed
// request is answered with tool_result{"error: <why>", is_error = true}. Many calls may be in flight
// per connection, and many connections per server. Returns the bound port and the listener, or
// `unavailable` when the port cannot be opened. Send the listener an exit to stop it: its
// connections (linked to it) close too; a connection's answers still pending then are dropped.
struct CallServer {
  std::uint16_t port = 0;
  caf::actor listener;
};
Expected<CallServer> spawn_call_server(caf::actor_system& system, const std::string& host, std::uint16_t port,
                                       std::string secret, actors::tool_actor target);

// Connects to a call server (BLOCKING, see above), authenticates, and returns an actor that answers
// tool_invocation requests by sending them over the connection (answers may come back in any
// order; calls never block). When the connection closes or fails, every request in flight is
// answered with caf::error sec::socket_disconnected ("call channel to host:port closed...") and the
// actor quits; requests arriving afterwards fail with sec::request_receiver_down (CAF's answer for a
// dead receiver). To close it, send it an exit (caf::exit_reason::user_shutdown): the pending calls
// fail the same way. Errors: `unavailable` naming host:port when it cannot be reached or the
// handshake does not finish; `permission_denied` ("...wrong cluster secret...") when either side's
// proof does not match.
Expected<actors::tool_actor> spawn_call_client(caf::actor_system& system, const std::string& host, std::uint16_t port,
                                               std::string secret);

}  // namespace loomflow::cluster
