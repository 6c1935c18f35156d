#include "loomflow/actors/sync_thread.hpp"

#include "loomflow/actors/yielding_poll.hpp"

namespace loomflow::actors {

SyncThread::SyncThread(std::chrono::microseconds spin) : spin_(spin), thread_([this] { run(); }) {}

SyncThread::~SyncThread() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SyncThread::post(std::function<void()> job) {
  bool parked = false;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    jobs_.push_back(std::move(job));
    parked = parked_;
  }
  posted_.fetch_add(1, std::memory_order_release);
  if (parked) wake_.notify_one();
}

bool SyncThread::take(std::function<void()>& job) {
  if (jobs_.empty()) return false;
  job = std::move(jobs_.front());
  jobs_.pop_front();
  return true;
}

void SyncThread::run() {
  std::function<void()> job;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!take(job)) {
        if (stopping_) return;
        // Poll a little before parking: the next job is usually microseconds away.
        const auto seen = posted_.load(std::memory_order_acquire);
        lock.unlock();
        poll_yielding([&] { return posted_.load(std::memory_order_acquire) != seen; }, spin_);
        lock.lock();
        if (!take(job)) {
          if (stopping_) return;
          parked_ = true;
          wake_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
          parked_ = false;
          if (!take(job)) return;  // stopping with nothing left
        }
      }
    }
    job();
    job = nullptr;
  }
}

}  // namespace loomflow::actors
