// loomflow/providers/held.hpp — HeldProvider: an asynchronous test double that holds every model
// call until the test releases it.
//
// It shows what a run waiting on a slow model costs (a suspended actor, no thread), and lets tests
// cancel, time out or destroy runs while their calls are in flight. Released calls are answered
// with "<prefix><last message of the request>".
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "loomflow/provider.hpp"

namespace loomflow::providers {

class HeldProvider final : public Provider {
 public:
  explicit HeldProvider(std::string answer_prefix = "") : prefix_(std::move(answer_prefix)) {}

  std::string_view name() const noexcept override { return "held"; }
  bool asynchronous() const noexcept override { return true; }
  void start(ModelRequest request, Completion done) override;
  // Answers the held call with `cancelled` at once.
  void cancel(const std::string& call_id) override;

  // Waits until at least `count` calls are held; false when that did not happen within `limit`.
  bool wait_for_held(std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(30));
  std::size_t held() const;
  // Answers every held call.
  void release_all();

 private:
  struct Call {
    std::string call_id;
    std::string last_message;
    Completion done;
  };
  const std::string prefix_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Call> calls_;
};

}  // namespace loomflow::providers
