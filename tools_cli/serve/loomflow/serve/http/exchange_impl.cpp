#include "loomflow/serve/http/exchange_impl.hpp"

#include <sys/socket.h>

#include <cstdio>

#include "loomflow/serve/http/response_format.hpp"
#include "loomflow/serve/http/websocket_frame.hpp"
#include "loomflow/serve/http/websocket_handshake.hpp"

namespace loomflow::serve::http {
namespace {

std::string chunk_size_line(std::size_t size) {
  char line[24];
  const int length = std::snprintf(line, sizeof line, "%zx\r\n", size);
  return std::string(line, static_cast<std::size_t>(length));
}

}  // namespace

ExchangeImpl::ExchangeImpl(Request request, ExchangeSetup setup)
    : request_(std::move(request)),
      channel_(std::move(setup.channel)),
      connection_id_(setup.connection_id),
      fd_(setup.fd),
      low_watermark_(setup.low_watermark),
      http11_(setup.http11),
      head_request_(request_.method == "HEAD"),
      websocket_upgrade_(is_websocket_upgrade_request(request_, setup.http11)),
      keep_alive_(setup.keep_alive) {
  queue_.append(std::move(setup.preamble));
}

// ---- user side ----

bool ExchangeImpl::respond(Response response) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::pending) return false;
  const bool was_empty = queue_.empty();
  queue_response_locked(std::move(response));
  after_enqueue_locked(was_empty);
  return true;
}

void ExchangeImpl::queue_response_locked(Response response) {
  const bool no_body = head_request_ || status_has_no_body(response.status);
  close_after_ = !keep_alive_ || asks_to_close(response.headers);
  HeadOptions options;
  options.framing = BodyFraming::content_length;
  options.content_length = response.body.size();
  options.close = close_after_;
  options.keep_alive_header = !http11_ && !close_after_;
  queue_.push(format_head(response.status, response.headers, options));
  if (!no_body) queue_.push(std::move(response.body));
  phase_ = Phase::responded;
}

bool ExchangeImpl::start_stream(int status, Headers headers) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::pending) return false;
  // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
  chunked_ = http11_;
  close_after_ = !keep_alive_ || asks_to_close(headers) || !chunked_;
  HeadOptions options;
  options.framing = chunked_ ? BodyFraming::chunked : BodyFraming::until_close;
  options.close = close_after_;
  const bool was_empty = queue_.empty();
  queue_.push(format_head(status, headers, options));
  phase_ = Phase::streaming;
  after_enqueue_locked(was_empty);
  return true;
}

bool ExchangeImpl::write(std::string data) {
  std::lock_guard lock(mutex_);
  const bool was_empty = queue_.empty();
  if (phase_ == Phase::streaming) {
    // An empty chunk would end the body; a HEAD response has none.
    if (data.empty() || head_request_) return true;
    if (chunked_) {
      queue_.push(chunk_size_line(data.size()));
      queue_.push(std::move(data));
      queue_.push(std::string_view("\r\n"));
    } else {
      queue_.push(std::move(data));
    }
  } else if (phase_ == Phase::websocket) {
    queue_.push(encode_frame_header(WebSocketOpcode::text, data.size()));
    queue_.push(std::move(data));
  } else {
    return false;
  }
  after_enqueue_locked(was_empty);
  return true;
}

std::size_t ExchangeImpl::buffered() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void ExchangeImpl::on_drain(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::finished && phase_ != Phase::aborted) std::swap(on_drain_, fn);
}  // the previous callback (now in fn) is destroyed after unlocking

void ExchangeImpl::end() {
  std::shared_ptr<const OnMessage> dropped_on_message;  // destroyed after unlocking
  std::lock_guard lock(mutex_);
  const bool was_empty = queue_.empty();
  switch (phase_) {
    case Phase::pending: {
      const std::string message = "the request handler ended the exchange without a response";
      Response response{500, {{"Content-Type", "application/json"}}, json_error_body(message, "no_response", "server_error")};
      queue_response_locked(std::move(response));
      break;
    }
    case Phase::streaming:
      if (chunked_ && !head_request_) queue_.push(std::string_view("0\r\n\r\n"));
      phase_ = Phase::stream_ended;
      break;
    case Phase::websocket:
      queue_.push(encode_close_frame(close_code::normal));
      phase_ = Phase::websocket_closing;
      dropped_on_message = std::move(on_message_);
      break;
    default:
      return;
  }
  after_enqueue_locked(was_empty);
}

void ExchangeImpl::on_close(std::function<void()> fn) {
  std::unique_lock lock(mutex_);
  if (!close_notified_) {
    // After a normal end (finished, or aborted once the user had ended) it never runs.
    if (phase_ != Phase::finished && phase_ != Phase::aborted) std::swap(on_close_, fn);
    lock.unlock();
    return;
  }
  lock.unlock();
  // The close already happened: run it now, on the I/O thread when there still is one.
  if (channel_->on_io_thread() || !channel_->post(fn)) fn();
}

bool ExchangeImpl::closed() const {
  std::lock_guard lock(mutex_);
  return close_notified_ || phase_ == Phase::finished || phase_ == Phase::aborted;
}

bool ExchangeImpl::accept_websocket(OnMessage on_message) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::pending || !websocket_upgrade_) return false;
  const bool was_empty = queue_.empty();
  queue_.push(websocket_accept_response(request_.header("sec-websocket-key")));
  on_message_ = std::make_shared<const OnMessage>(std::move(on_message));
  close_after_ = true;  // the connection never returns to HTTP
  phase_ = Phase::websocket;
  after_enqueue_locked(was_empty);
  return true;
}

// ---- shared plumbing ----

void ExchangeImpl::after_enqueue_locked(bool queue_was_empty) {
  // On the I/O thread the socket is tried at once; with bytes already waiting it is full (or about
  // to be flushed), so the new bytes just join the queue.
  if (queue_was_empty && channel_->on_io_thread()) flush_locked();
  if (queue_.size() > low_watermark_) above_watermark_ = true;
  request_service_locked();
}

void ExchangeImpl::request_service_locked() {
  if (service_requested_) return;
  service_requested_ = channel_->request_service(connection_id_);
}

bool ExchangeImpl::flush_locked() {
  if (write_failed_) return false;
  if (!queue_.empty()) {
    int error = 0;
    if (queue_.send_to(fd_, kMaxBytesPerFlush, error) == SendQueue::SendResult::failed) {
      write_failed_ = true;
      return false;
    }
  }
  if (above_watermark_ && queue_.size() <= low_watermark_) {
    above_watermark_ = false;
    drain_pending_ = true;
  }
  return true;
}

// ---- connection side (I/O thread) ----

ExchangeImpl::Phase ExchangeImpl::phase() const {
  std::lock_guard lock(mutex_);
  return phase_;
}

void ExchangeImpl::clear_service_request() {
  std::lock_guard lock(mutex_);
  service_requested_ = false;
}

bool ExchangeImpl::flush() {
  std::lock_guard lock(mutex_);
  if (phase_ == Phase::finished || phase_ == Phase::aborted) return true;
  return flush_locked();
}

std::function<void()> ExchangeImpl::take_drain_callback() {
  std::lock_guard lock(mutex_);
  if (!drain_pending_) return {};
  drain_pending_ = false;
  return on_drain_;
}

bool ExchangeImpl::sending_done() const {
  std::lock_guard lock(mutex_);
  const bool ended = phase_ == Phase::responded || phase_ == Phase::stream_ended || phase_ == Phase::websocket_closing;
  return ended && queue_.empty();
}

bool ExchangeImpl::awaiting_user() const {
  std::lock_guard lock(mutex_);
  return phase_ == Phase::pending || phase_ == Phase::streaming || phase_ == Phase::websocket;
}

bool ExchangeImpl::closes_connection() const {
  std::lock_guard lock(mutex_);
  return phase_ == Phase::pending ? !keep_alive_ : close_after_;
}

void ExchangeImpl::disable_keep_alive() {
  std::lock_guard lock(mutex_);
  keep_alive_ = false;
  close_after_ = true;  // a head already queued said keep-alive; closing afterwards is still allowed
}

ExchangeImpl::Callbacks ExchangeImpl::take_callbacks_locked() {
  Callbacks callbacks{std::move(on_drain_), std::move(on_close_), std::move(on_message_)};
  on_drain_ = nullptr;
  on_close_ = nullptr;
  on_message_.reset();
  return callbacks;
}

void ExchangeImpl::finish() {
  Callbacks dropped;  // destroyed after unlocking
  std::lock_guard lock(mutex_);
  phase_ = Phase::finished;
  dropped = take_callbacks_locked();
}

std::function<void()> ExchangeImpl::abort() {
  Callbacks dropped;  // destroyed after unlocking
  std::lock_guard lock(mutex_);
  const bool user_owned = phase_ == Phase::pending || phase_ == Phase::streaming || phase_ == Phase::websocket;
  const bool notify = user_owned && !close_notified_;
  phase_ = Phase::aborted;
  queue_.clear();
  close_notified_ = close_notified_ || user_owned;
  dropped = take_callbacks_locked();
  return notify ? std::move(dropped.on_close) : std::function<void()>();
}

std::shared_ptr<const Exchange::OnMessage> ExchangeImpl::message_callback() const {
  std::lock_guard lock(mutex_);
  return phase_ == Phase::websocket ? on_message_ : nullptr;
}

void ExchangeImpl::queue_pong(std::string payload) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::websocket) return;
  const bool was_empty = queue_.empty();
  queue_.push(encode_frame(WebSocketOpcode::pong, payload));
  after_enqueue_locked(was_empty);
}

std::function<void()> ExchangeImpl::close_websocket(std::string close_frame) {
  std::shared_ptr<const OnMessage> dropped_on_message;  // destroyed after unlocking
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::websocket) return {};
  const bool was_empty = queue_.empty();
  queue_.push(std::move(close_frame));
  phase_ = Phase::websocket_closing;
  after_enqueue_locked(was_empty);
  std::function<void()> on_close_fn = std::move(on_close_);
  on_close_ = nullptr;
  dropped_on_message = std::move(on_message_);
  close_notified_ = true;
  return on_close_fn;
}

void ExchangeImpl::answer_internal_error() {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::pending) return;
  const std::string message = "the server failed to handle the request (the request handler threw an exception)";
  Response response{500, {{"Content-Type", "application/json"}}, json_error_body(message, "internal_error", "server_error")};
  const bool was_empty = queue_.empty();
  queue_response_locked(std::move(response));
  after_enqueue_locked(was_empty);
}

void ExchangeImpl::send_going_away() {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::websocket || !queue_.empty() || write_failed_) return;
  const std::string frame = encode_close_frame(close_code::going_away, "server shutting down");
  [[maybe_unused]] const ssize_t sent = ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace loomflow::serve::http
