// ParkedProvider: an asynchronous test provider that holds every call until the test releases it.
// It proves that runs waiting on a model are suspended actors, not blocked threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "loomflow/provider.hpp"

namespace loomflow::testing {

class ParkedProvider final : public Provider {
 public:
  std::string_view name() const noexcept override { return "parked"; }
  bool asynchronous() const noexcept override { return true; }
  void start(ModelRequest request, Completion done) override {
    std::lock_guard<std::mutex> guard(mutex_);
    parked_.push_back(Parked{std::move(request), std::move(done)});
    cv_.notify_all();
  }

  // Waits until `count` calls are parked; false if that did not happen within the limit.
  bool wait_for_parked(std::size_t count, std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return parked_.size() >= count; });
  }

  // Answers every parked call with the last user message, uppercased by nothing: echoed back.
  void release_all() {
    std::vector<Parked> calls;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      calls.swap(parked_);
    }
    for (auto& call : calls) {
      std::string text = call.request.messages.empty() ? std::string() : call.request.messages.back().content;
      call.done(ModelResponse{Message::assistant("parked:" + text), {}});
    }
  }

 private:
  struct Parked {
    ModelRequest request;
    Completion done;
  };
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Parked> parked_;
};

}  // namespace loomflow::testing
