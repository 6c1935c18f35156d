// loomflow/serve/http/exchange_impl.hpp — the Exchange handed to handlers: one request, its reply
// channel and its send queue.
//
// The user side (the Exchange interface) may be called from any thread: every call takes the
// exchange's mutex, queues bytes and asks the I/O thread for service through the IoChannel (one
// request per batch). Called on the I/O thread, a write also tries the socket at once. User
// callbacks are never run under the mutex and never from inside a user call: the I/O thread runs
// them from its own loop (take_drain_callback, abort, close_websocket).
// The connection side (marked "I/O thread") is used only by the server's connection code.
//
// Flow control: `above_watermark_` is set whenever a user call returns with more than
// low_watermark bytes queued; a flush that brings the queue to low_watermark or below while it is
// set clears it and marks a drain. Both happen under the mutex, so a write racing a flush either
// lands before it (the flush sees it) or after it (the write asks for another flush): no drain is
// ever missed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "loomflow/serve/http/io_channel.hpp"
#include "loomflow/serve/http/send_queue.hpp"
#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve::http {

struct ExchangeSetup {
  std::shared_ptr<IoChannel> channel;
  std::uint64_t connection_id = 0;
  int fd = -1;                    // the connection's socket; used only on the I/O thread
  std::size_t low_watermark = 0;
  bool keep_alive = true;         // the request allows it and the server is not draining
  bool http11 = true;
  SendQueue preamble;             // bytes the connection had not sent yet (a 100 Continue)
};

class ExchangeImpl final : public Exchange {
 public:
  enum class Phase : std::uint8_t {
    pending,            // no answer yet
    responded,          // a whole response is queued
    streaming,          // a streamed response is open
    stream_ended,       // end(): the last chunk is queued
    websocket,          // an open WebSocket
    websocket_closing,  // a close frame is queued (ours, or the answer to the client's)
    finished,           // everything was sent; the connection moved on
    aborted,            // the connection went away or the server stopped
  };

  ExchangeImpl(Request request, ExchangeSetup setup);

  const Request& request() const override { return request_; }
  bool respond(Response response) override;
  bool start_stream(int status, Headers headers) override;
  bool write(std::string data) override;
  std::size_t buffered() const override;
  void on_drain(std::function<void()> fn) override;
  void end() override;
  void on_close(std::function<void()> fn) override;
  bool closed() const override;
  bool is_websocket_upgrade() const override { return websocket_upgrade_; }
  bool accept_websocket(OnMessage on_message) override;

  // ---- I/O thread ----
  Phase phase() const;
  // Called before each service pass, so a write after it asks for the next one.
  void clear_service_request();
  // Sends what the socket takes now; false when the socket failed (the peer is gone).
  bool flush();
  // The drain callback when a drain happened since the last call.
  std::function<void()> take_drain_callback();
  // We ended the reply (respond, end, a close frame) and every byte went out.
  bool sending_done() const;
  // The reply is still the user's to give or finish (pending, streaming, an open WebSocket).
  bool awaiting_user() const;
  // The connection closes after this exchange (no keep-alive, Connection: close, HTTP/1.0 stream).
  bool closes_connection() const;
  void disable_keep_alive();
  // Normal end: the connection moves on. Drops the callbacks (they often hold the exchange).
  void finish();
  // The connection is closing under it: returns on_close when the user had not ended the reply.
  std::function<void()> abort();
  // WebSocket: the message callback while open (shared: it is called without the mutex).
  std::shared_ptr<const OnMessage> message_callback() const;
  void queue_pong(std::string payload);
  // WebSocket: queues `close_frame` (the answer to the client's close, or ours for a protocol
  // error) and returns on_close when the user had not ended the exchange.
  std::function<void()> close_websocket(std::string close_frame);
  // The handler threw: answers 500 if it had not answered.
  void answer_internal_error();
  // Server stop: sends a close 1001 at once if a WebSocket is open and nothing is half-sent.
  void send_going_away();

 private:
  bool enqueue_allowed_locked() const;
  void after_enqueue_locked(bool queue_was_empty);
  bool flush_locked();
  void request_service_locked();
  void queue_response_locked(Response response);
  // Moves the callbacks out, to be destroyed (or run) after unlocking: they may own anything.
  struct Callbacks {
    std::function<void()> on_drain;
    std::function<void()> on_close;
    std::shared_ptr<const OnMessage> on_message;
  };
  Callbacks take_callbacks_locked();

  const Request request_;
  const std::shared_ptr<IoChannel> channel_;
  const std::uint64_t connection_id_;
  const int fd_;
  const std::size_t low_watermark_;
  const bool http11_;
  const bool head_request_;
  const bool websocket_upgrade_;

  mutable std::mutex mutex_;
  Phase phase_ = Phase::pending;
  bool keep_alive_;
  bool close_after_ = false;       // decided when the head is queued
  bool chunked_ = false;           // streaming framing: chunked, else until close (HTTP/1.0)
  bool close_notified_ = false;    // on_close ran (or was due) for this exchange
  bool write_failed_ = false;
  bool service_requested_ = false;
  bool above_watermark_ = false;
  bool drain_pending_ = false;
  SendQueue queue_;
  std::function<void()> on_drain_;
  std::function<void()> on_close_;
  std::shared_ptr<const OnMessage> on_message_;
};

}  // namespace loomflow::serve::http
