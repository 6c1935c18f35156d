#include "loomflow/actors/event_channel.hpp"

#include <algorithm>

namespace loomflow::actors {

EventChannel::EventChannel(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 2)) {}

void EventChannel::push(RunEvent event) {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (closed_ || detached_) return;
    event.seq = next_seq_++;
    const bool was_empty = buffer_.empty();
    buffer_.push_back(std::move(event));
    high_water_ = std::max(high_water_, buffer_.size());
    if (was_empty) notify = on_ready_;
  }
  ready_cv_.notify_one();
  if (notify) notify();
}

void EventChannel::close() {
  std::function<void()> notify;
  std::vector<std::function<void()>> resumes;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (closed_) return;
    closed_ = true;
    notify = on_ready_;
    release_waiters_locked(resumes);
  }
  ready_cv_.notify_all();
  for (auto& resume : resumes) resume();
  if (notify) notify();
}

void EventChannel::detach() {
  std::vector<std::function<void()>> resumes;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    detached_ = true;
    buffer_.clear();
    on_ready_ = nullptr;
    release_waiters_locked(resumes);
  }
  ready_cv_.notify_all();
  for (auto& resume : resumes) resume();
}

void EventChannel::release_waiters_locked(std::vector<std::function<void()>>& out) {
  out.swap(waiting_producers_);
}

EventChannel::Take EventChannel::try_pop(RunEvent& out) {
  std::vector<std::function<void()>> resumes;
  Take taken = Take::empty;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (buffer_.empty()) return closed_ || detached_ ? Take::ended : Take::empty;
    out = std::move(buffer_.front());
    buffer_.pop_front();
    taken = Take::event;
    // Producers resume once the consumer caught up to half the buffer, not at every event.
    if (!waiting_producers_.empty() && buffer_.size() <= capacity_ / 2) release_waiters_locked(resumes);
  }
  for (auto& resume : resumes) resume();
  return taken;
}

bool EventChannel::pop(RunEvent& out) {
  for (;;) {
    auto taken = try_pop(out);
    if (taken == Take::event) return true;
    if (taken == Take::ended) return false;
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait(lock, [this] { return !buffer_.empty() || closed_ || detached_; });
  }
}

EventChannel::Take EventChannel::pop_for(RunEvent& out, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto taken = try_pop(out);
    if (taken != Take::empty) return taken;
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_cv_.wait_until(lock, until, [this] { return !buffer_.empty() || closed_ || detached_; }))
      return Take::empty;
  }
}

void EventChannel::on_ready(std::function<void()> fn) {
  bool fire = false;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    on_ready_ = fn;
    fire = !buffer_.empty() || closed_;
  }
  if (fire && fn) fn();
}

bool EventChannel::congested() const {
  std::lock_guard<std::mutex> guard(mutex_);
  const bool full = !detached_ && !closed_ && buffer_.size() >= capacity_;
  if (full) ++congestions_;
  return full;
}

void EventChannel::when_uncongested(std::function<void()> resume) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!detached_ && !closed_ && buffer_.size() > capacity_ / 2) {
      waiting_producers_.push_back(std::move(resume));
      return;
    }
  }
  resume();
}

std::size_t EventChannel::buffered() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return buffer_.size();
}

std::size_t EventChannel::high_water() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return high_water_;
}

std::size_t EventChannel::congestions() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return congestions_;
}

void ModelTextSink::on_text(std::string_view delta) {
  if (delta.empty()) return;
  delivered_ = true;
  RunEvent event;
  event.kind = EventKind::text_delta;
  event.path = path_;
  event.name = agent_;
  event.text = std::string(delta);
  channel_->push(std::move(event));
}

void emit_node_entered(const run_context& ctx, const std::string& step, const std::string& node) {
  if (!ctx.events) return;
  RunEvent event;
  event.kind = EventKind::node_entered;
  event.path = step;
  event.name = node;
  ctx.events->push(std::move(event));
}

void emit_node_left(const run_context& ctx, const std::string& step, const std::string& node,
                    const node_result& result, std::uint64_t duration_us) {
  if (!ctx.events) return;
  RunEvent event;
  event.kind = EventKind::node_left;
  event.path = step;
  event.name = node;
  event.ok = !result.failed();
  event.text = result.failed() ? result.error.message : result.output;
  event.usage = result.usage;
  event.duration_us = duration_us;
  event.replayed = result.replayed;
  ctx.events->push(std::move(event));
}

void emit_tool_started(const run_context& ctx, const std::string& step, const ToolCall& call) {
  if (!ctx.events) return;
  RunEvent event;
  event.kind = EventKind::tool_call_started;
  event.path = step;
  event.name = call.name;
  event.call_id = call.id;
  event.data = call.arguments;
  ctx.events->push(std::move(event));
}

void emit_tool_finished(const run_context& ctx, const std::string& step, const ToolCall& call, bool ok,
                        const std::string& result, std::uint64_t duration_us, bool replayed) {
  if (!ctx.events) return;
  RunEvent event;
  event.kind = EventKind::tool_call_finished;
  event.path = step;
  event.name = call.name;
  event.call_id = call.id;
  event.ok = ok;
  event.text = result;
  event.duration_us = duration_us;
  event.replayed = replayed;
  ctx.events->push(std::move(event));
}

}  // namespace loomflow::actors
