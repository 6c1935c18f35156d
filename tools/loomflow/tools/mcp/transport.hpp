// loomflow/tools/mcp/transport.hpp — internal: how a Session moves JSON-RPC messages to and from a
// server. Two implementations: stdio (a child process) and Streamable HTTP.
// Thread-safety: `send` may be called from any thread, also from inside an event callback;
// `open` and `close` are called by one thread at a time (the Session serialises them). Events
// arrive on the transport's own thread(s).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "loomflow/error.hpp"
#include "loomflow/tools/mcp/client.hpp"

namespace loomflow::mcp::detail {

struct TransportEvents {
  std::function<void(nlohmann::json message)> message;  // one inbound JSON-RPC message
  // The message carrying request `id` could not be delivered or answered (HTTP status, cut stream).
  std::function<void(const nlohmann::json& id, Error error)> request_failed;
  // The connection is gone (the process exited, the HTTP session expired): every request in flight
  // is lost. After this, `open` may be called again.
  std::function<void(Error reason)> closed;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts a connection (spawns the process). Called again after `closed` to restart.
  virtual Expected<void> open(TransportEvents events) = 0;
  virtual Expected<void> send(const nlohmann::json& message) = 0;
  // After a successful initialize: the version to announce (HTTP header) and a chance to open the
  // server-to-client stream.
  virtual void initialized(const std::string& protocol_version) {}
  // Ends the connection gracefully, then forcefully; no event arrives after it returns. Idempotent.
  virtual void close() = 0;
  virtual long pid() const { return 0; }
};

std::unique_ptr<Transport> make_stdio_transport(const std::string& server_name, StdioServer server);
std::unique_ptr<Transport> make_http_transport(const std::string& server_name, HttpServer server);

}  // namespace loomflow::mcp::detail
