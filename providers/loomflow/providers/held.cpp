#include "loomflow/providers/held.hpp"

namespace loomflow::providers {

void HeldProvider::start(ModelRequest request, Completion done) {
  std::string last = request.messages.empty() ? std::string() : request.messages.back().content;
  std::lock_guard<std::mutex> guard(mutex_);
  calls_.push_back(Call{std::move(request.call_id), std::move(last), std::move(done)});
  changed_.notify_all();
}

bool HeldProvider::wait_for_held(std::size_t count, std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, limit, [&] { return calls_.size() >= count; });
}

void HeldProvider::cancel(const std::string& call_id) {
  Completion done;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto it = calls_.begin(); it != calls_.end(); ++it) {
      if (it->call_id != call_id) continue;
      done = std::move(it->done);
      calls_.erase(it);
      break;
    }
    changed_.notify_all();
  }
  if (done) done(Error{ErrorCode::cancelled, "held model: call '" + call_id + "' was cancelled"});
}

std::size_t HeldProvider::held() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return calls_.size();
}

void HeldProvider::release_all() {
  std::vector<Call> calls;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    calls.swap(calls_);
  }
  // Completions run outside the lock: they may re-enter start() through a new turn.
  for (auto& call : calls) call.done(ModelResponse{Message::assistant(prefix_ + call.last_message), {}});
}

}  // namespace loomflow::providers
