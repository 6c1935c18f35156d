// loomflow/serve/http/server.hpp — an HTTP/1.1 server on one epoll I/O thread, for `loomflow serve`:
// keep-alive, request limits answered with JSON errors, streamed responses with flow control (SSE),
// and WebSocket (RFC 6455) on the same port.
//
// The handler runs on the I/O thread once per complete request and must not block: it answers
// inline or hands the Exchange to other threads, which answer later. A connection handles one
// request at a time (pipelined requests wait their turn). Requests the server can judge alone are
// answered without the handler, with a JSON body {"error": {"message", "type", "code"}}:
// 400 malformed request line or headers, 408 request not complete within request_timeout,
// 411 a body without Content-Length or chunked encoding, 413 body above max_body_bytes,
// 431 headers above max_header_bytes, 501 an unknown Transfer-Encoding, 505 not HTTP/1.x.
// Thread-safety: Server's members may be called from any thread (from a callback on the I/O thread,
// shutdown() only starts draining, and the Server must not be destroyed there). Exchange's members
// may be called from any thread; its callbacks (on_drain, on_close, the WebSocket message callback)
// run on the I/O thread, never under a lock, and must be quick; one that throws is ignored (a
// throwing message callback closes its WebSocket with 1011).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::serve::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;          // as sent: "GET", "POST", ...
  std::string target;          // as sent: path and query
  std::string path;            // percent-decoded path without the query, e.g. "/v1/runs/abc"
  std::string query;           // raw text after '?', may be empty
  Headers headers;             // names lower-cased, values trimmed, in arrival order
  std::string body;            // de-chunked when sent chunked
  std::string remote_address;  // "127.0.0.1:54321"

  // The first header named `lower_name`, or empty.
  std::string header(std::string_view lower_name) const;
  // The first query parameter `name`, percent-decoded ('+' is a space), or empty.
  std::string query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;   // the server adds Content-Length, Date and Connection itself
  std::string body;
};

// One request and its reply channel. Exactly one of respond(), start_stream() or
// accept_websocket() takes effect; later calls return false.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;

  // A whole response. After it, the connection takes its next request (keep-alive) or closes.
  virtual bool respond(Response response) = 0;

  // A streamed response: status and headers now, the body as chunks (Transfer-Encoding: chunked).
  virtual bool start_stream(int status, Headers headers) = 0;
  // Queues body bytes (a streamed response: one chunk; an empty write is skipped, as an empty chunk
  // would end the body) or one text frame (a WebSocket). Never blocks and never drops: flow control
  // is the caller's, through buffered() and on_drain(). False once closed or ended.
  virtual bool write(std::string data) = 0;
  // Bytes queued and not yet taken by the socket, as they go on the wire (response head, chunk and
  // frame headers included).
  virtual std::size_t buffered() const = 0;
  // `fn` runs on the I/O thread each time buffered() falls to ServerOptions::low_watermark or below
  // after a write() had left it above. Set it before writing. A producer pauses while buffered() is
  // above the watermark and resumes from `fn`; as a drain can also follow a write the producer did
  // not pause for, it re-checks buffered() rather than counting drains.
  virtual void on_drain(std::function<void()> fn) = 0;
  // Ends a streamed response (the last chunk is sent once the queue drained) or closes a WebSocket
  // with status 1000 (the connection closes once the close frame went out). On an exchange not
  // answered yet it answers 500 (code "no_response").
  virtual void end() = 0;

  // `fn` runs once on the I/O thread whenever the exchange ends without our own answer having ended
  // it (respond() / end()) — for the caller, "the consumer went away": the client disconnected, a
  // WebSocket client sent a close frame or broke the protocol, or the server shut down. Not called
  // after respond() or end(). Set it right away; set after the close already happened, it runs at
  // once (on the I/O thread while the server runs, else on the calling thread).
  virtual void on_close(std::function<void()> fn) = 0;
  // True once the exchange is over: on_close's condition happened, or the reply was fully sent.
  virtual bool closed() const = 0;

  // True when the request is a valid WebSocket upgrade (GET, Upgrade: websocket, Connection:
  // upgrade, Sec-WebSocket-Version: 13, a 16-byte base64 Sec-WebSocket-Key).
  virtual bool is_websocket_upgrade() const = 0;
  // Answers 101 and switches the connection to WebSocket. `on_message` receives every complete
  // message (fragments reassembled; text is valid UTF-8, else the connection closes with 1007).
  // Pings are answered by the server; a close frame from the client ends the exchange.
  using OnMessage = std::function<void(std::string message, bool binary)>;
  virtual bool accept_websocket(OnMessage on_message) = 0;
};

using ExchangePtr = std::shared_ptr<Exchange>;
using Handler = std::function<void(ExchangePtr)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                                // 0: any free port (see Server::port)
  std::size_t max_header_bytes = 16 * 1024;              // request line + headers
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_connections = 10'000;                  // more are accepted and closed at once
  std::size_t max_websocket_message = 1024 * 1024;       // larger: close 1009
  std::size_t low_watermark = 64 * 1024;                 // see Exchange::on_drain
  std::chrono::milliseconds request_timeout{30'000};     // a started request must complete within
  std::chrono::milliseconds idle_timeout{120'000};       // keep-alive connection with no request
};

class Server {
 public:
  // Binds and listens (SO_REUSEADDR), then serves on its own I/O thread. Errors name the address.
  static Expected<std::unique_ptr<Server>> start(ServerOptions options, Handler handler);
  // shutdown(0).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const noexcept;
  // Closes the listening socket: no new connections; open ones go on.
  void stop_accepting();
  // stop_accepting(), then waits up to `grace` for every exchange in flight to end (idle keep-alive
  // connections are closed at once), then closes every connection (on_close runs for exchanges
  // still open) and stops the I/O thread. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  std::size_t open_connections() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loomflow::serve::http
