// loomflow/actors/event_channel.hpp — the bounded buffer between a streamed run and its consumer.
//
// Producers (the run's actors, provider I/O threads) push and never block: the run's structural
// events (nodes, tool calls) are always taken — their number is bounded by the run's caps — while
// model text is flow-controlled: once `capacity` events are buffered the channel is congested, the
// providers' TextSink reports it, and streaming providers stop reading their socket until the
// consumer has drained the buffer to half. So a slow consumer slows the model stream instead of
// growing memory, and nothing is dropped. A detached channel (the consumer left, the run goes on in
// the background) drops what arrives and is never congested.
// Thread-safety: every member is thread-safe. Callbacks run outside the channel's lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "loomflow/actors/messages.hpp"
#include "loomflow/events.hpp"
#include "loomflow/provider.hpp"

namespace loomflow::actors {

class EventChannel {
 public:
  explicit EventChannel(std::size_t capacity);

  // Stamps `event.seq` and buffers it (dropped once closed or detached).
  void push(RunEvent event);
  // No more events: consumers see the end once they drained the buffer.
  void close();
  // The consumer went away but the run goes on: drop what is buffered and what comes.
  void detach();

  enum class Take { event, empty, ended };
  Take try_pop(RunEvent& out);
  // Blocks until an event or the end; false at the end.
  bool pop(RunEvent& out);
  // Like pop, giving up after `timeout` (returns `empty`).
  Take pop_for(RunEvent& out, std::chrono::milliseconds timeout);

  // Asynchronous consumers: `fn` runs whenever an event arrives in an empty buffer, and at the end.
  void on_ready(std::function<void()> fn);

  // Flow control of model text (see TextSink).
  bool congested() const;
  void when_uncongested(std::function<void()> resume);

  std::size_t buffered() const;
  std::size_t capacity() const noexcept { return capacity_; }
  // The most events ever buffered at once, and how often producers found the channel congested.
  std::size_t high_water() const;
  std::size_t congestions() const;

 private:
  void release_waiters_locked(std::vector<std::function<void()>>& out);

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<RunEvent> buffer_;
  std::uint64_t next_seq_ = 1;
  bool closed_ = false;
  bool detached_ = false;
  std::size_t high_water_ = 0;
  mutable std::size_t congestions_ = 0;
  std::function<void()> on_ready_;
  std::vector<std::function<void()>> waiting_producers_;
};

// The TextSink of one model call of a streamed run: its deltas become text_delta events under the
// call's step. Remembers whether any text came, so a provider that did not stream can be made up for.
class ModelTextSink final : public TextSink {
 public:
  ModelTextSink(std::shared_ptr<EventChannel> channel, std::string path, std::string agent)
      : channel_(std::move(channel)), path_(std::move(path)), agent_(std::move(agent)) {}
  void on_text(std::string_view delta) override;
  bool congested() override { return channel_->congested(); }
  void when_ready(std::function<void()> resume) override { channel_->when_uncongested(std::move(resume)); }
  bool delivered() const noexcept { return delivered_.load(); }

 private:
  std::shared_ptr<EventChannel> channel_;
  std::string path_;
  std::string agent_;
  std::atomic<bool> delivered_{false};
};

// What the run's actors report; each does nothing when nobody streams the run (`ctx.events` empty).
void emit_node_entered(const run_context& ctx, const std::string& step, const std::string& node);
void emit_node_left(const run_context& ctx, const std::string& step, const std::string& node,
                    const node_result& result, std::uint64_t duration_us);
void emit_tool_started(const run_context& ctx, const std::string& step, const ToolCall& call);
void emit_tool_finished(const run_context& ctx, const std::string& step, const ToolCall& call, bool ok,
                        const std::string& result, std::uint64_t duration_us, bool replayed);

}  // namespace loomflow::actors
