// loomflow/event_stream.hpp — `EventStream`: a run's events as they happen (Runtime::stream).
//
//   auto stream = runtime.stream(agent, "Summarise this", {.user_id = UserId{"alice"}});
//   while (auto event = stream.next())
//     if (event->kind == loomflow::EventKind::text_delta) std::cout << event->text << std::flush;
//   auto result = stream.run().wait();
//
// Backpressure: the stream buffers at most StreamOptions::buffer_events events of model text; a
// consumer that reads slowly holds the model's HTTP stream back (the provider stops reading its
// socket) instead of letting memory grow. Structural events (nodes, tools) are never held back, and
// nothing is ever dropped while the stream is consumed. The last event is always run_finished
// (preceded by `error` when the run failed); next() then returns nothing.
// A stream dropped before its end cancels the run (the consumer went away), unless
// StreamOptions::on_abandon says `detach` or detach() was called: then the run finishes in the
// background (journaled, if the runtime has a journal) and its events are discarded.
// Thread-safety: one consumer thread calls next()/try_next()/detach(); run(), cancel(), buffered()
// and on_ready() may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "loomflow/events.hpp"

namespace loomflow {

class RunHandle;

namespace actors {
class EventChannel;
}

struct StreamOptions {
  std::size_t buffer_events = 256;  // model text buffered before the provider is held back (>= 2)
  enum class OnAbandon { cancel, detach };
  OnAbandon on_abandon = OnAbandon::cancel;  // what dropping an unfinished stream does
};

class EventStream {
 public:
  EventStream(std::shared_ptr<actors::EventChannel> channel, std::shared_ptr<const RunHandle> run,
              StreamOptions::OnAbandon on_abandon);
  EventStream(EventStream&&) noexcept = default;
  EventStream& operator=(EventStream&&) noexcept;
  ~EventStream();

  // The next event, waiting for it; nothing once run_finished has been returned.
  std::optional<RunEvent> next();
  // Like next(), waiting at most `timeout`; nothing on time-out too (see ended()).
  std::optional<RunEvent> next_for(std::chrono::milliseconds timeout);
  // An event if one is buffered now, without waiting.
  std::optional<RunEvent> try_next();
  // True once run_finished has been returned (or the stream was detached).
  bool ended() const;

  // For consumers that do not wait on a thread (an event loop): `fn` runs, on a runtime or provider
  // thread, whenever an event arrives in an empty buffer and when the stream ends; the consumer then
  // drains with try_next(). `fn` must be quick and must not call back into the stream's producers.
  void on_ready(std::function<void()> fn);
  std::size_t buffered() const;

  // The run itself: its result (wait()), cancel().
  const RunHandle& run() const { return *run_; }
  void cancel();
  // Stop consuming and let the run finish in the background.
  void detach();

 private:
  void abandon();
  std::shared_ptr<actors::EventChannel> channel_;
  std::shared_ptr<const RunHandle> run_;
  StreamOptions::OnAbandon on_abandon_;
  bool ended_ = false;
};

}  // namespace loomflow
