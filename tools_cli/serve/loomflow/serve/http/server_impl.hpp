// loomflow/serve/http/server_impl.hpp — the inside of Server: the epoll loop and its connections.
//
// Everything here runs on the I/O thread except start(), shutdown(), stop_accepting() and
// open_connections(), which reach the loop through the IoChannel. Connections are found by id
// (epoll data, service requests, timers), never by pointer, so a connection closed earlier in the
// same loop turn is simply not found; closed ones are freed at the end of the turn.
//
// A connection's life: reading (parse a request) -> exchanging (the handler's Exchange owns the
// reply; input is not read, only a hang-up is watched) -> reading again (keep-alive), or
// websocket, or closing (flush, shutdown(SHUT_WR), read and discard until the client closes or a
// short linger ends, so a reply is not destroyed by a reset from unread input).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loomflow/serve/http/exchange_impl.hpp"
#include "loomflow/serve/http/io_channel.hpp"
#include "loomflow/serve/http/request_parser.hpp"
#include "loomflow/serve/http/send_queue.hpp"
#include "loomflow/serve/http/server.hpp"
#include "loomflow/serve/http/unique_fd.hpp"
#include "loomflow/serve/http/websocket_frame.hpp"

namespace loomflow::serve::http {

using Clock = std::chrono::steady_clock;

// Timeouts and waits are cut to this: longer ones would overflow time_point arithmetic.
inline constexpr std::chrono::milliseconds kLongestWait = std::chrono::hours(24 * 365);

struct Connection {
  enum class Phase : std::uint8_t { reading, exchanging, websocket, closing };

  Connection(std::uint64_t id, int fd, std::string remote_address, ParserLimits limits, std::size_t max_message)
      : id(id), fd(fd), remote_address(std::move(remote_address)), parser(limits), websocket(max_message) {}

  std::string_view unread() const noexcept { return std::string_view(input).substr(input_used); }
  void consume(std::size_t bytes);

  const std::uint64_t id;
  int fd;  // owned; closed by Server::Impl::close_connection
  const std::string remote_address;
  Phase phase = Phase::reading;

  std::string input;           // bytes read and not yet parsed start at input_used
  std::size_t input_used = 0;
  RequestParser parser;
  bool request_timer_armed = false;  // the request timeout runs (a request started)
  bool continue_sent = false;
  SendQueue output;                  // server-made bytes while no exchange owns the socket
  std::shared_ptr<ExchangeImpl> exchange;
  WebSocketReader websocket;

  bool peer_eof = false;     // the client shut its side (read 0, RDHUP or HUP)
  bool write_shut = false;   // closing: our FIN is sent, lingering
  bool closed = false;       // fd closed; freed at the end of the loop turn
  std::uint32_t epoll_events = 0;
  std::optional<Clock::time_point> deadline;
};

struct Server::Impl {
  Impl(ServerOptions options, Handler handler, std::shared_ptr<IoChannel> channel)
      : options(std::move(options)), handler(std::move(handler)), channel(std::move(channel)) {}

  // ---- any thread (server.cpp) ----
  Expected<void> open_listener();
  Expected<void> start_loop();
  void stop_accepting_from_any_thread();
  void shutdown(std::chrono::milliseconds grace);

  // ---- I/O thread: the loop (server.cpp) ----
  void run();
  void run_posted();
  void run_timers();
  int next_timeout_ms() const;
  void accept_connections();
  void close_listener();
  void begin_drain();
  void check_drained();
  void close_everything();

  // ---- I/O thread: one connection (connection.cpp) ----
  void on_connection_event(Connection& c, std::uint32_t events);
  void on_service_request(Connection& c);
  void on_deadline(Connection& c);
  // Runs the connection's state machine until it waits for input, socket space or a handler.
  void advance(Connection& c);
  bool step(Connection& c);
  bool step_reading(Connection& c);
  bool step_exchanging(Connection& c);
  bool step_websocket(Connection& c);
  bool step_closing(Connection& c);
  bool read_some(Connection& c);  // false when nothing more can be read now
  bool flush_output(Connection& c);
  void dispatch(Connection& c);
  void answer_error(Connection& c, int status, std::string_view code, std::string_view message);
  void enter_reading(Connection& c);
  void enter_closing(Connection& c);
  void close_connection(Connection& c);
  void update_interest(Connection& c);
  void set_deadline(Connection& c, std::optional<Clock::time_point> when);
  bool in_flight(const Connection& c) const;

  const ServerOptions options;
  const Handler handler;
  const std::shared_ptr<IoChannel> channel;
  UniqueFd listener;
  UniqueFd epoll;
  UniqueFd spare_fd;  // closed to accept-and-drop a connection when out of descriptors
  std::uint16_t bound_port = 0;
  std::string address;  // "host:port", for messages
  std::thread thread;

  // I/O thread state.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::vector<std::uint64_t> closed_ids;
  std::set<std::pair<Clock::time_point, std::uint64_t>> deadlines;
  std::uint64_t next_id = 16;  // ids below are the listener and the eventfd
  bool draining = false;
  bool stop_requested = false;
  std::atomic<std::size_t> open_count{0};

  // shutdown() callers.
  std::mutex shutdown_mutex;
  bool stopped = false;
  std::mutex drain_mutex;
  std::condition_variable drain_cv;
  bool drained = false;
};

}  // namespace loomflow::serve::http
