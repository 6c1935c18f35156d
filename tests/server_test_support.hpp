// Shared by the HTTP server and WebSocket suites: a server started on a free loopback port, and a
// Mailbox for what the I/O thread hands to the test. Waits are bounded by kServerTestSafety, which
// only a failing test ever reaches.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "loomflow/serve/http/server.hpp"

namespace loomflow::testing {

inline constexpr std::chrono::seconds kServerTestSafety{20};

inline std::unique_ptr<serve::http::Server> start_server(serve::http::Handler handler,
                                                         serve::http::ServerOptions options = {}) {
  auto server = serve::http::Server::start(std::move(options), std::move(handler));
  if (!server) {
    ADD_FAILURE() << server.error().describe();
    return nullptr;
  }
  return std::move(*server);
}

// Values (exchanges, messages) handed from the I/O thread to the test.
template <class T>
class Mailbox {
 public:
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    changed_.notify_all();
  }
  T pop() {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, kServerTestSafety, [&] { return !items_.empty(); })) {
      ADD_FAILURE() << "nothing arrived in the mailbox";
      return T{};
    }
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  bool wait_for_size(std::size_t size) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kServerTestSafety, [&] { return items_.size() >= size; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
};

}  // namespace loomflow::testing
