#include "loomflow/serve/run_registry.hpp"

#include <algorithm>

namespace loomflow::serve {

std::string RunRegistry::fresh_id() {
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::lock_guard<std::mutex> guard(mutex_);
  std::string id = "run-";
  for (int k = 0; k < 20; ++k) id += digits[rng_() % 62];
  return id;
}

void RunRegistry::add(std::shared_ptr<RunRecord> record) {
  const std::string id = record->id;
  auto hub = record->hub;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    runs_[id] = std::move(record);
    order_.push_back(id);
    ++running_;
  }
  hub->when_finished([this, id] { finished(id); });
}

void RunRegistry::finished(const std::string& id) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    // Notified under the lock: a waiter may destroy the registry as soon as it sees no run left.
    idle_cv_.notify_all();
    --running_;
    ++finished_count_;
    // Forget the oldest finished runs beyond what is kept.
    for (auto it = order_.begin(); finished_count_ > keep_finished_ && it != order_.end();) {
      auto run = runs_.find(*it);
      if (run != runs_.end() && run->second->hub->finished()) {
        runs_.erase(run);
        it = order_.erase(it);
        --finished_count_;
      } else {
        ++it;
      }
    }
  }
}

std::shared_ptr<RunRecord> RunRegistry::find(const std::string& id, const UserId& user) const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = runs_.find(id);
  if (it == runs_.end() || it->second->user != user) return nullptr;
  return it->second;
}

std::vector<std::shared_ptr<RunRecord>> RunRegistry::list(const UserId& user) const {
  std::vector<std::shared_ptr<RunRecord>> out;
  std::lock_guard<std::mutex> guard(mutex_);
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto run = runs_.find(*it);
    if (run != runs_.end() && run->second->user == user) out.push_back(run->second);
  }
  return out;
}

std::size_t RunRegistry::running() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return running_;
}

void RunRegistry::cancel_all() {
  std::vector<std::shared_ptr<RunRecord>> runs;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto& [id, run] : runs_) runs.push_back(run);
  }
  for (auto& run : runs)
    if (!run->hub->finished()) run->hub->cancel();
}

bool RunRegistry::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_cv_.wait_until(lock, deadline, [this] { return running_ == 0; });
}

}  // namespace loomflow::serve
