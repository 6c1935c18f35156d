// loomflow/serve/run_registry.hpp — the runs a server started, by id and by tenant.
//
// Every lookup takes the caller's UserId: a run of another user is reported as not found, so one
// tenant can neither see, stream nor cancel another's runs, nor learn that they exist. Finished runs
// are kept for `keep_finished` more runs (oldest forgotten first); running ones are never dropped.
// Thread-safety: every member is thread-safe.
#pragma once

#include <condition_variable>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "loomflow/ids.hpp"
#include "loomflow/serve/run_hub.hpp"

namespace loomflow::serve {

struct RunRecord {
  std::string id;  // the run's session id
  UserId user;
  std::string target;
  std::int64_t created_unix_ms = 0;
  std::shared_ptr<RunHub> hub;
};

class RunRegistry {
 public:
  explicit RunRegistry(std::size_t keep_finished = 1000) : keep_finished_(keep_finished) {}

  // A fresh run id ("run-" and 20 random base-62 digits).
  std::string fresh_id();
  void add(std::shared_ptr<RunRecord> record);
  // The run, if it exists and belongs to `user`.
  std::shared_ptr<RunRecord> find(const std::string& id, const UserId& user) const;
  // The user's runs, newest first.
  std::vector<std::shared_ptr<RunRecord>> list(const UserId& user) const;
  std::size_t running() const;
  // Cancels every run still going.
  void cancel_all();
  // Blocks until no run is going, or `deadline` passed; true when none is.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

 private:
  void finished(const std::string& id);

  const std::size_t keep_finished_;
  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::unordered_map<std::string, std::shared_ptr<RunRecord>> runs_;
  std::deque<std::string> order_;  // ids, oldest first
  std::size_t running_ = 0;
  std::size_t finished_count_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace loomflow::serve
