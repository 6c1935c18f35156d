// One connection's state machine on the I/O thread: reading requests, handing them to the
// handler, sending what its Exchange queued, WebSocket frames, closing. See server_impl.hpp.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "loomflow/serve/http/response_format.hpp"
#include "loomflow/serve/http/server_impl.hpp"

namespace loomflow::serve::http {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Unparsed input kept at most (only grows while nothing consumes it, e.g. a WebSocket closing).
constexpr std::size_t kMaxUnreadInput = 64 * 1024;
constexpr int kMaxReadsPerEvent = 8;          // then other connections get their turn
constexpr int kMaxStepsPerAdvance = 64;       // then the rest runs in the next loop turn
// After our FIN, how long the client may take to close its side before we just close.
constexpr std::chrono::milliseconds kMaxLinger{2000};

// User callbacks run on the I/O thread: one that throws must not take the server down with it.
template <class Callback, class... Args>
bool run_callback(const Callback& callback, Args&&... args) noexcept {
  try {
    callback(std::forward<Args>(args)...);
    return true;
  } catch (...) {
    return false;
  }
}

Clock::time_point after(std::chrono::milliseconds duration) {
  return Clock::now() + std::clamp(duration, std::chrono::milliseconds(0), kLongestWait);
}

}  // namespace

void Connection::consume(std::size_t bytes) {
  input_used += bytes;
  if (input_used == input.size()) {
    input.clear();
    input_used = 0;
    if (input.capacity() > 2 * kReadChunk) input.shrink_to_fit();  // idle connections stay small
  } else if (input_used >= kReadChunk) {
    input.erase(0, input_used);
    input_used = 0;
  }
}

// ---- events ----

void Server::Impl::on_connection_event(Connection& c, std::uint32_t events) {
  if (events & EPOLLERR) {
    close_connection(c);  // reset or failed: nothing can be sent any more
    return;
  }
  const bool hangup = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
  const bool takes_input = c.phase != Connection::Phase::exchanging &&
                           (c.phase == Connection::Phase::closing || c.unread().size() < kMaxUnreadInput);
  if (takes_input && (events & EPOLLIN || hangup)) {
    // Read, then parse, in turns: a hang-up is noticed (read returns 0) only after the bytes
    // before it were handled.
    for (int i = 0; i < kMaxReadsPerEvent && !c.closed; ++i) {
      const bool more = read_some(c);
      if (!c.closed) advance(c);
      if (!more) break;
    }
    return;
  }
  // Not reading (an exchange owns the connection): a hang-up means the client went away.
  if (hangup) c.peer_eof = true;
  advance(c);
}

void Server::Impl::on_service_request(Connection& c) {
  if (c.exchange) c.exchange->clear_service_request();  // before flushing: see ExchangeImpl
  advance(c);
}

void Server::Impl::on_deadline(Connection& c) {
  switch (c.phase) {
    case Connection::Phase::reading:
      if (!c.parser.started()) {
        close_connection(c);  // idle keep-alive connection: closed silently
        return;
      }
      answer_error(c, 408, "request_timeout",
                   "the request was not complete within the request timeout of " +
                       std::to_string(options.request_timeout.count()) + " ms");
      break;
    case Connection::Phase::closing:
    case Connection::Phase::exchanging:  // only armed once the client hung up
      close_connection(c);
      return;
    default:
      return;
  }
  advance(c);
}

bool Server::Impl::read_some(Connection& c) {
  if (c.closed || c.peer_eof || c.phase == Connection::Phase::exchanging) return false;
  if (c.phase != Connection::Phase::closing && c.unread().size() >= kMaxUnreadInput) return false;
  char buffer[kReadChunk];
  while (true) {
    const ssize_t got = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (got > 0) {
      if (c.phase != Connection::Phase::closing) c.input.append(buffer, static_cast<std::size_t>(got));
      return static_cast<std::size_t>(got) == sizeof buffer;  // a short read emptied the socket
    }
    if (got == 0) {
      c.peer_eof = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) close_connection(c);  // ECONNRESET and the like
    return false;
  }
}

// ---- the state machine ----

void Server::Impl::advance(Connection& c) {
  int steps = 0;
  while (!c.closed && steps < kMaxStepsPerAdvance && step(c)) ++steps;
  if (c.closed) return;
  if (steps == kMaxStepsPerAdvance) channel->request_service(c.id);  // finish in the next turn
  update_interest(c);
}

bool Server::Impl::step(Connection& c) {
  if (!flush_output(c)) return false;
  if (c.exchange) {
    if (auto on_drain = c.exchange->take_drain_callback()) {
      run_callback(on_drain);
      return true;  // it may have queued more
    }
  }
  switch (c.phase) {
    case Connection::Phase::reading: return step_reading(c);
    case Connection::Phase::exchanging: return step_exchanging(c);
    case Connection::Phase::websocket: return step_websocket(c);
    case Connection::Phase::closing: return step_closing(c);
  }
  return false;
}

bool Server::Impl::step_reading(Connection& c) {
  bool progressed = false;
  while (!c.unread().empty()) {
    const std::size_t used = c.parser.feed(c.unread());
    c.consume(used);
    if (c.parser.started() && !c.request_timer_armed) {
      c.request_timer_armed = true;
      set_deadline(c, after(options.request_timeout));
    }
    if (c.parser.failed()) {
      const RequestError& error = c.parser.error();
      answer_error(c, error.status, error.code, error.message);
      return true;
    }
    if (c.parser.expects_continue() && !c.continue_sent) {
      // The client waits for this before sending the body (RFC 9110 §10.1.1).
      c.output.push(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
      c.continue_sent = true;
      progressed = true;
    }
    if (c.parser.complete()) {
      dispatch(c);
      return true;
    }
    if (used == 0) break;
  }
  if (c.peer_eof) {
    close_connection(c);  // the client left; an unfinished request gets no answer
    return false;
  }
  return progressed;
}

void Server::Impl::dispatch(Connection& c) {
  Request request = c.parser.take_request();
  request.remote_address = c.remote_address;
  ExchangeSetup setup;
  setup.channel = channel;
  setup.connection_id = c.id;
  setup.fd = c.fd;
  setup.low_watermark = options.low_watermark;
  setup.keep_alive = c.parser.keep_alive() && !draining;
  setup.http11 = c.parser.is_http11();
  setup.preamble = std::move(c.output);
  c.parser.reset();
  c.request_timer_armed = false;
  c.continue_sent = false;
  set_deadline(c, std::nullopt);  // the handler's time is not limited here
  auto exchange = std::make_shared<ExchangeImpl>(std::move(request), std::move(setup));
  c.exchange = exchange;
  c.phase = Connection::Phase::exchanging;
  try {
    handler(exchange);
  } catch (...) {
    exchange->answer_internal_error();  // and keep serving
  }
}

bool Server::Impl::step_exchanging(Connection& c) {
  ExchangeImpl& exchange = *c.exchange;
  const ExchangeImpl::Phase phase = exchange.phase();
  if (phase == ExchangeImpl::Phase::websocket || phase == ExchangeImpl::Phase::websocket_closing) {
    c.phase = Connection::Phase::websocket;
    return true;
  }
  if (c.peer_eof && exchange.awaiting_user()) {
    close_connection(c);  // the consumer went away: on_close
    return false;
  }
  if (!exchange.sending_done()) {
    // A half-closed client may still read the reply, but not forever.
    if (c.peer_eof && !c.deadline) set_deadline(c, after(options.request_timeout));
    return false;
  }
  const bool keep_alive = !exchange.closes_connection() && !draining && !c.peer_eof;
  exchange.finish();
  c.exchange.reset();
  if (keep_alive) {
    enter_reading(c);  // pipelined bytes already read are parsed now
  } else {
    enter_closing(c);
  }
  return true;
}

bool Server::Impl::step_websocket(Connection& c) {
  ExchangeImpl& exchange = *c.exchange;
  if (exchange.sending_done()) {  // our close frame (or the answer to the client's) went out
    exchange.finish();
    c.exchange.reset();
    enter_closing(c);
    return true;
  }
  bool progressed = false;
  while (!c.unread().empty() && exchange.phase() == ExchangeImpl::Phase::websocket) {
    const std::size_t used = c.websocket.feed(c.unread());
    c.consume(used);
    std::optional<WebSocketEvent> event = c.websocket.take_event();
    if (!event) {
      if (used == 0) break;
      continue;
    }
    progressed = true;
    switch (event->kind) {
      case WebSocketEvent::Kind::message:
        if (auto on_message = exchange.message_callback();
            on_message && !run_callback(*on_message, std::move(event->payload), event->binary)) {
          auto on_close = exchange.close_websocket(encode_close_frame(close_code::internal_error, "internal error"));
          if (on_close) run_callback(on_close);
        }
        break;
      case WebSocketEvent::Kind::ping:
        exchange.queue_pong(std::move(event->payload));
        break;
      case WebSocketEvent::Kind::pong:
        break;
      case WebSocketEvent::Kind::close:
      case WebSocketEvent::Kind::protocol_error: {
        // Answer a close with its own code (RFC 6455 §5.5.1); a violation with ours.
        const std::string reason = event->kind == WebSocketEvent::Kind::close ? std::string() : event->reason;
        if (auto on_close = exchange.close_websocket(encode_close_frame(event->code, reason))) run_callback(on_close);
        break;
      }
    }
  }
  if (progressed) return true;
  if (c.peer_eof) {
    close_connection(c);
    return false;
  }
  return false;
}

bool Server::Impl::step_closing(Connection& c) {
  c.input.clear();  // nothing more is parsed
  c.input_used = 0;
  if (!c.output.empty()) return false;  // still sending (the closing deadline bounds it)
  if (!c.write_shut) {
    // FIN first and read until the client closes: closing with unread input would send a reset
    // that can destroy the reply before the client reads it.
    ::shutdown(c.fd, SHUT_WR);
    c.write_shut = true;
    set_deadline(c, after(std::min(options.request_timeout, kMaxLinger)));
  }
  if (c.peer_eof) close_connection(c);
  return false;
}

bool Server::Impl::flush_output(Connection& c) {
  if (c.exchange) {
    if (c.exchange->flush()) return true;
    close_connection(c);  // EPIPE, ECONNRESET: the client is gone
    return false;
  }
  if (c.output.empty()) return true;
  int error = 0;
  if (c.output.send_to(c.fd, kMaxBytesPerFlush, error) != SendQueue::SendResult::failed) return true;
  close_connection(c);
  return false;
}

void Server::Impl::answer_error(Connection& c, int status, std::string_view code, std::string_view message) {
  c.output.push(format_error_response(status, code, message, /*close=*/true));
  enter_closing(c);  // the rest of the stream cannot be trusted to be framed right
}

void Server::Impl::enter_reading(Connection& c) {
  c.phase = Connection::Phase::reading;
  c.request_timer_armed = false;
  set_deadline(c, after(options.idle_timeout));
}

void Server::Impl::enter_closing(Connection& c) {
  c.phase = Connection::Phase::closing;
  set_deadline(c, after(options.request_timeout));  // bounds sending a reply nobody reads
}

void Server::Impl::close_connection(Connection& c) {
  if (c.closed) return;
  c.closed = true;
  std::function<void()> on_close;
  if (c.exchange) {
    on_close = c.exchange->abort();
    c.exchange.reset();
  }
  set_deadline(c, std::nullopt);
  // Explicitly: a forked child still holding the socket would keep it in the epoll set.
  ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  --open_count;
  closed_ids.push_back(c.id);
  if (on_close) run_callback(on_close);
}

void Server::Impl::update_interest(Connection& c) {
  std::uint32_t wanted = 0;
  if (!c.peer_eof) {
    wanted |= EPOLLRDHUP;  // also while only writing: a vanished consumer must be noticed
    const bool reads = c.phase == Connection::Phase::closing ||
                       ((c.phase == Connection::Phase::reading || c.phase == Connection::Phase::websocket) &&
                        c.unread().size() < kMaxUnreadInput);
    if (reads) wanted |= EPOLLIN;
  }
  const bool output_pending = c.exchange ? c.exchange->buffered() > 0 : !c.output.empty();
  if (output_pending) wanted |= EPOLLOUT;
  if (wanted == c.epoll_events) return;
  epoll_event event{};
  event.events = wanted;
  event.data.u64 = c.id;
  ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd, &event);
  c.epoll_events = wanted;
}

void Server::Impl::set_deadline(Connection& c, std::optional<Clock::time_point> when) {
  if (c.deadline) deadlines.erase({*c.deadline, c.id});
  c.deadline = when;
  if (when) deadlines.insert({*when, c.id});
}

}  // namespace loomflow::serve::http
