// loomflow/providers/http/http_client.hpp — asynchronous HTTP(S) for providers: libcurl's multi
// interface driven by one dedicated I/O thread, so no actor ever blocks on the network.
//
// Calls run concurrently on the one thread; connections are kept alive and reused between calls
// to the same host; TLS peers are verified (libcurl's defaults, never switched off). Each call has a
// connect timeout, a total timeout and an idle timeout (no bytes for that long), and can be
// cancelled. Body bytes of a 2xx response can be streamed to a callback as they arrive; other
// responses are collected whole so their error body can be read.
// Thread-safety: all member functions may be called from any thread. Callbacks run on the I/O
// thread: they must be quick and must not block (send a message, fill a buffer).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::providers::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Flow control of a streamed body: a consumer that falls behind closes the gate, and the transfer
// pauses — libcurl keeps what it read, the socket buffer fills, the server slows down — until the
// gate calls the resume function it was handed. Implementations are thread-safe.
class FlowGate {
 public:
  virtual ~FlowGate() = default;
  // Asked on the I/O thread before each piece of body: true holds the transfer back.
  virtual bool closed() = 0;
  // After closed() said true: `resume` must run once (any thread; at once if already open).
  virtual void when_open(std::function<void()> resume) = 0;
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  Headers headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10'000};  // default 10 s
  std::chrono::milliseconds total_timeout{600'000};   // default 10 min
  std::chrono::milliseconds idle_timeout{60'000};     // no body bytes for this long; default 60 s
                                                      // (a transfer paused by its gate is not idle)
  std::shared_ptr<FlowGate> gate;                     // streamed bodies only; default: none
};

struct HttpResponse {
  int status = 0;
  Headers headers;   // names lower-cased, in arrival order
  std::string body;  // empty when the body was streamed to on_data
  // The first header named `name` (lower case), or empty.
  std::string header(std::string_view name) const;
};

class HttpClient {
 public:
  using CallId = std::uint64_t;
  // Body bytes of a 2xx response, as they arrive. Return false to abort the call.
  using OnData = std::function<bool(std::string_view)>;
  // The status and headers of a 2xx response whose body is streamed, once, before its first body
  // bytes reach OnData (`body` is empty). For protocols whose headers matter mid-stream (MCP's session id).
  using OnHead = std::function<void(const HttpResponse&)>;
  // The outcome, exactly once. Transport failures (refused, reset, timed out) are `unavailable`
  // errors naming the URL and what happened; a cancelled call ends with `cancelled`.
  using OnDone = std::function<void(Expected<HttpResponse>)>;

  HttpClient();
  // Cancels every call in flight (their OnDone runs with `cancelled`) and stops the I/O thread.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a call. `on_data` may be empty: then the whole body is in the response.
  CallId send(HttpRequest request, OnData on_data, OnDone on_done);
  CallId send(HttpRequest request, OnHead on_head, OnData on_data, OnDone on_done);
  // Ends a call early; its OnDone runs with `cancelled` unless it already finished.
  void cancel(CallId id);
  // Runs `fn` on the I/O thread after `delay` (retry back-off without holding any thread).
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loomflow::providers::http
