// loomflow/serve/http/io_channel.hpp — how other threads reach the server's I/O thread: a
// mutex-protected queue of tasks and of "connection N needs service" requests, plus an eventfd
// that wakes the epoll loop when the queue gets its first entry.
//
// Exchanges keep the channel alive (shared_ptr), so an Exchange outliving its Server can still ask:
// once the server stopped, the channel is closed and every post is refused.
// Thread-safety: post(), request_service(), on_io_thread() from any thread; the rest only from the
// I/O thread. Lock order: an Exchange's mutex may be held while posting, never the other way round.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::serve::http {

class IoChannel {
 public:
  static Expected<std::shared_ptr<IoChannel>> create();
  ~IoChannel();
  IoChannel(const IoChannel&) = delete;
  IoChannel& operator=(const IoChannel&) = delete;

  // Queues `task` for the I/O thread. False (and `task` dropped) once the channel closed.
  bool post(std::function<void()> task);
  // Asks the I/O thread to look at a connection (flush, state changes). False once closed.
  bool request_service(std::uint64_t connection_id);
  bool on_io_thread() const noexcept { return io_thread_.load(std::memory_order_acquire) == std::this_thread::get_id(); }

  // I/O thread.
  void bind_to_current_thread() noexcept { io_thread_.store(std::this_thread::get_id(), std::memory_order_release); }
  int event_fd() const noexcept { return event_fd_; }
  void clear_wakeup() noexcept;  // reads the eventfd once epoll reported it readable
  bool has_pending() const;
  // Moves the queued work out.
  void take(std::vector<std::function<void()>>& tasks, std::vector<std::uint64_t>& services);
  // Refuses every later post and closes the eventfd. Idempotent.
  void close();

 private:
  explicit IoChannel(int event_fd) : event_fd_(event_fd) {}
  void wake_locked();

  mutable std::mutex mutex_;
  int event_fd_;
  bool closed_ = false;
  bool wake_pending_ = false;  // the eventfd was written since the last take()
  std::vector<std::function<void()>> tasks_;
  std::vector<std::uint64_t> services_;
  std::atomic<std::thread::id> io_thread_{};
};

}  // namespace loomflow::serve::http
