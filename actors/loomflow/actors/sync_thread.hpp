// loomflow/actors/sync_thread.hpp — a dedicated thread for blocking work (the journal's fsyncs and
// reads), fed jobs in order.
//
// After a job it keeps polling for the next one (yielding, see yielding_poll.hpp) for `spin`
// before it parks: a durable workflow hands it the next commit a few microseconds after the
// previous one is acknowledged, and a wake-up through the kernel costs tens of microseconds on
// virtual machines — more than the rest of a step. Idle, it parks on a condition variable.
// Thread-safety: post() may be called from any thread; the destructor runs the jobs already
// posted, then joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace loomflow::actors {

class SyncThread {
 public:
  explicit SyncThread(std::chrono::microseconds spin);
  ~SyncThread();
  SyncThread(const SyncThread&) = delete;
  SyncThread& operator=(const SyncThread&) = delete;

  void post(std::function<void()> job);

 private:
  void run();
  bool take(std::function<void()>& job);  // under the lock

  const std::chrono::microseconds spin_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  bool parked_ = false;
  std::atomic<std::size_t> posted_{0};  // polled while spinning, without the lock
  std::thread thread_;
};

}  // namespace loomflow::actors
