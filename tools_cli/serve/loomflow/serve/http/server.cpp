// Server: the listener, the epoll loop, timers, cross-thread work and shutdown.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <future>
#include <system_error>

#include "loomflow/serve/http/server_impl.hpp"

namespace loomflow::serve::http {
namespace {

constexpr std::uint64_t kListenerTag = 1;
constexpr std::uint64_t kWakeupTag = 2;
constexpr int kListenBacklog = 4096;            // the kernel caps it at net.core.somaxconn
constexpr int kMaxAcceptsPerEvent = 256;        // then other connections get their turn
constexpr int kMaxPostedRounds = 4;

std::string host_and_port(const std::string& host, std::uint16_t port) {
  const std::string shown = host.empty() ? "*" : host;
  return (shown.find(':') != std::string::npos ? "[" + shown + "]" : shown) + ":" + std::to_string(port);
}

std::string peer_address(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(v4.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6.sin6_port));
  }
  return "unknown";
}

ErrorCode listen_error_code(int error) {
  switch (error) {
    case EADDRINUSE: return ErrorCode::unavailable;  // taken now, may be free later
    case EACCES:
    case EPERM: return ErrorCode::permission_denied;
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT: return ErrorCode::invalid_argument;
    default: return ErrorCode::internal;
  }
}

}  // namespace

// ---- Server ----

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_) impl_->shutdown(std::chrono::milliseconds(0));
}

Expected<std::unique_ptr<Server>> Server::start(ServerOptions options, Handler handler) {
  if (!handler) return Error{ErrorCode::invalid_argument, "http server: a request handler is required"};
  auto channel = IoChannel::create();
  if (!channel) return channel.error();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler), std::move(*channel));
  if (auto opened = impl->open_listener(); !opened) return opened.error();
  if (auto started = impl->start_loop(); !started) return started.error();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const noexcept { return impl_->bound_port; }

void Server::stop_accepting() { impl_->stop_accepting_from_any_thread(); }

void Server::shutdown(std::chrono::milliseconds grace) { impl_->shutdown(grace); }

std::size_t Server::open_connections() const { return impl_->open_count.load(); }

// ---- start ----

Expected<void> Server::Impl::open_listener() {
  address = host_and_port(options.host, options.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(options.port);
  const int resolved = ::getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port_text.c_str(), &hints, &found);
  if (resolved != 0) {
    return Error{ErrorCode::invalid_argument,
                 "cannot listen on " + address + ": cannot resolve host '" + options.host + "': " + gai_strerror(resolved)};
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> results(found, &::freeaddrinfo);
  int last_error = EADDRNOTAVAIL;
  for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    UniqueFd fd(::socket(candidate->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_error = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), candidate->ai_addr, candidate->ai_addrlen) != 0 || ::listen(fd.get(), kListenBacklog) != 0) {
      last_error = errno;
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                                   : reinterpret_cast<sockaddr_in&>(bound).sin_port);
    listener = std::move(fd);
    address = host_and_port(options.host, bound_port);
    return {};
  }
  return Error{listen_error_code(last_error), "cannot listen on " + address + ": " + std::strerror(last_error)};
}

Expected<void> Server::Impl::start_loop() {
  epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return Error{ErrorCode::internal, "http server on " + address + ": epoll_create1 failed: " + std::strerror(errno)};
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.u64 = kListenerTag;
  epoll_event wake_event{};
  wake_event.events = EPOLLIN;
  wake_event.data.u64 = kWakeupTag;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listener.get(), &listen_event) != 0 ||
      ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, channel->event_fd(), &wake_event) != 0) {
    return Error{ErrorCode::internal, "http server on " + address + ": epoll_ctl failed: " + std::strerror(errno)};
  }
  spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  try {
    thread = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return Error{ErrorCode::internal, "http server on " + address + ": cannot start its I/O thread: " + e.what()};
  }
  return {};
}

// ---- the loop ----

void Server::Impl::run() {
  channel->bind_to_current_thread();
  std::array<epoll_event, 256> events{};
  while (!stop_requested) {
    const int timeout = channel->has_pending() ? 0 : next_timeout_ms();
    const int count = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), timeout);
    for (int i = 0; i < count; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kListenerTag) {
        accept_connections();
      } else if (tag == kWakeupTag) {
        channel->clear_wakeup();
      } else if (auto found = connections.find(tag); found != connections.end() && !found->second->closed) {
        on_connection_event(*found->second, events[i].events);
      }
    }
    run_timers();
    run_posted();
    if (draining) check_drained();
    for (std::uint64_t id : closed_ids) connections.erase(id);
    closed_ids.clear();
  }
  close_everything();
  channel->close();
}

void Server::Impl::run_posted() {
  std::vector<std::function<void()>> tasks;
  std::vector<std::uint64_t> services;
  // A few rounds, so work posted by callbacks runs now; the rest waits for the next turn (the
  // loop polls without sleeping while work is queued).
  for (int round = 0; round < kMaxPostedRounds; ++round) {
    tasks.clear();
    services.clear();
    channel->take(tasks, services);
    if (tasks.empty() && services.empty()) return;
    for (auto& task : tasks) {
      try {
        task();  // some carry user callbacks (a late on_close)
      } catch (...) {
      }
    }
    for (std::uint64_t id : services) {
      if (auto found = connections.find(id); found != connections.end() && !found->second->closed) {
        on_service_request(*found->second);
      }
    }
  }
}

int Server::Impl::next_timeout_ms() const {
  if (deadlines.empty()) return -1;
  const auto wait = deadlines.begin()->first - Clock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Round up: waking a little early would only spin until the deadline.
  const auto milliseconds = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return static_cast<int>(std::min<long long>(milliseconds, 60'000));
}

void Server::Impl::run_timers() {
  if (deadlines.empty()) return;
  const auto now = Clock::now();
  std::vector<std::uint64_t> expired;
  for (auto it = deadlines.begin(); it != deadlines.end() && it->first <= now;) {
    expired.push_back(it->second);
    it = deadlines.erase(it);
  }
  for (std::uint64_t id : expired) {
    auto found = connections.find(id);
    if (found == connections.end() || found->second->closed) continue;
    found->second->deadline.reset();
    on_deadline(*found->second);
  }
}

void Server::Impl::accept_connections() {
  for (int i = 0; i < kMaxAcceptsPerEvent && listener; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const int fd = ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd) {
        // Out of descriptors: the pending connection would keep the listener readable and the loop
        // spinning. Free the spare, accept and drop it, take the spare back.
        spare_fd.reset();
        const int dropped = ::accept(listener.get(), nullptr, nullptr);
        if (dropped >= 0) ::close(dropped);
        spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        continue;
      }
      return;  // EAGAIN: accepted everything
    }
    if (open_count.load() >= options.max_connections) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::uint64_t id = next_id++;
    auto connection = std::make_unique<Connection>(
        id, fd, peer_address(peer), ParserLimits{options.max_header_bytes, options.max_body_bytes},
        options.max_websocket_message);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = id;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      ::close(fd);
      continue;
    }
    connection->epoll_events = event.events;
    Connection& added = *connection;
    connections.emplace(id, std::move(connection));
    ++open_count;
    enter_reading(added);
  }
}

void Server::Impl::close_listener() {
  if (!listener) return;
  ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, listener.get(), nullptr);
  listener.reset();
}

// ---- stopping ----

bool Server::Impl::in_flight(const Connection& c) const {
  switch (c.phase) {
    case Connection::Phase::reading: return c.parser.started() || !c.unread().empty();
    case Connection::Phase::exchanging:
    case Connection::Phase::websocket: return true;
    case Connection::Phase::closing: return false;
  }
  return false;
}

void Server::Impl::begin_drain() {
  if (draining) return;
  draining = true;
  close_listener();
  // Every reply from now on says "Connection: close"; only then are idle connections closed (a
  // client seeing its idle connection close may rely on that).
  for (auto& [id, connection] : connections) {
    if (!connection->closed && connection->exchange) connection->exchange->disable_keep_alive();
  }
  for (auto& [id, connection] : connections) {
    Connection& c = *connection;
    if (!c.closed && c.phase == Connection::Phase::reading && !in_flight(c)) close_connection(c);  // idle keep-alive
  }
  check_drained();
}

void Server::Impl::check_drained() {
  for (const auto& [id, connection] : connections) {
    if (!connection->closed && in_flight(*connection)) return;
  }
  std::lock_guard lock(drain_mutex);
  if (!drained) {
    drained = true;
    drain_cv.notify_all();
  }
}

void Server::Impl::close_everything() {
  close_listener();
  for (auto& [id, connection] : connections) {
    if (connection->closed) continue;
    if (connection->exchange) connection->exchange->send_going_away();
    close_connection(*connection);
  }
  connections.clear();
  closed_ids.clear();
  deadlines.clear();
}

void Server::Impl::stop_accepting_from_any_thread() {
  if (channel->on_io_thread()) {
    close_listener();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  // If the loop stops first the task is dropped, the promise broken, and wait() returns as well.
  if (channel->post([this, done] {
        close_listener();
        done->set_value();
      })) {
    finished.wait();
  }
}

void Server::Impl::shutdown(std::chrono::milliseconds grace) {
  if (channel->on_io_thread()) {
    // A callback cannot wait for its own thread: start draining; the destructor finishes.
    channel->post([this] { begin_drain(); });
    return;
  }
  std::lock_guard guard(shutdown_mutex);
  if (stopped) return;
  if (channel->post([this] { begin_drain(); }) && grace > std::chrono::milliseconds(0)) {
    std::unique_lock lock(drain_mutex);
    drain_cv.wait_for(lock, std::min(grace, kLongestWait), [this] { return drained; });
  }
  channel->post([this] { stop_requested = true; });
  if (thread.joinable()) thread.join();
  stopped = true;
  listener.reset();
  spare_fd.reset();
  epoll.reset();
}

}  // namespace loomflow::serve::http
