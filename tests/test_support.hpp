// Shared helpers for the test suites: one Runtime per test binary, and small node/tool factories.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "loomflow/runtime.hpp"

namespace loomflow::testing {

// One runtime for the whole binary: spawning actor systems per test would dominate the run time.
// A gtest environment owns it so it is destroyed before static destruction begins (CAF's actor
// system must not outlive the runtime library's own statics).
class SharedRuntimeEnvironment : public ::testing::Environment {
 public:
  static Runtime& get() {
    if (!runtime_) runtime_ = std::make_unique<Runtime>(RuntimeConfig{2});
    return *runtime_;
  }
  void TearDown() override { runtime_.reset(); }

 private:
  static inline std::unique_ptr<Runtime> runtime_;
};

// Registered before main so gtest tears it down after the last test.
inline const bool kSharedRuntimeRegistered =
    (::testing::AddGlobalTestEnvironment(new SharedRuntimeEnvironment), true);

inline Runtime& shared_runtime() { return SharedRuntimeEnvironment::get(); }

inline Node append(std::string name, std::string suffix) {
  return Node::function(std::move(name), [suffix](std::string_view in) { return std::string(in) + suffix; });
}

// A rendezvous for N parties: `arrive_and_wait` returns true when all N arrived within the limit.
// Proves concurrency: sequential execution could never have N parties inside at once.
class Rendezvous {
 public:
  explicit Rendezvous(int parties) : parties_(parties) {}
  bool arrive_and_wait(std::chrono::seconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (++arrived_ == parties_) cv_.notify_all();
    return cv_.wait_for(lock, limit, [this] { return arrived_ >= parties_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int parties_;
  int arrived_ = 0;
};

}  // namespace loomflow::testing
