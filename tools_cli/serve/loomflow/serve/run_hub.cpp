#include "loomflow/serve/run_hub.hpp"

#include <algorithm>

namespace loomflow::serve {

RunHub::RunHub(EventStream stream, Options options)
    : options_(options), run_(stream.run()), stream_(std::move(stream)) {}

void RunHub::start() {
  std::weak_ptr<RunHub> weak = weak_from_this();
  stream_.on_ready([weak] {
    if (auto hub = weak.lock()) hub->pump();
  });
}

void RunHub::subscribe(Subscriber subscriber) {
  auto exchange = subscriber.exchange;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    Reader reader{std::move(subscriber)};
    reader.next_seq = std::max<std::uint64_t>(reader.sub.from_seq, 1);
    readers_.push_back(std::move(reader));
  }
  std::weak_ptr<RunHub> weak = weak_from_this();
  auto again = [weak] {
    if (auto hub = weak.lock()) hub->pump();
  };
  exchange->on_drain(again);
  exchange->on_close(again);
  pump();
}

void RunHub::when_finished(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!finish_reported_) {
      finish_waiters_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

bool RunHub::finished() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return finish_reported_;
}

std::uint64_t RunHub::last_seq() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return first_seq_ + history_.size() - 1;
}

bool RunHub::primary_behind_locked() const {
  const std::uint64_t end = first_seq_ + history_.size();
  // Never more unread events than the history holds: the primary client must not miss any.
  const std::uint64_t lag = std::min<std::uint64_t>(options_.primary_lag_events, options_.history_events);
  for (const auto& r : readers_)
    if (r.sub.primary && !r.done)
      return end - r.next_seq >= lag || r.sub.exchange->buffered() >= options_.high_watermark;
  return false;
}

namespace {

RunEvent gap_event(std::uint64_t from, std::uint64_t to, std::size_t history) {
  RunEvent e;
  e.kind = EventKind::error;
  e.seq = 0;
  e.text = "events " + std::to_string(from) + " to " + std::to_string(to - 1) +
           " are no longer available: this client fell behind the run's event history (" + std::to_string(history) +
           " events)";
  e.data = R"({"code":"events_dropped"})";
  return e;
}

}  // namespace

void RunHub::pump() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (pumping_) {
      again_ = true;
      return;
    }
    pumping_ = true;
  }
  for (;;) {
    std::vector<std::pair<http::ExchangePtr, std::string>> writes;
    std::vector<http::ExchangePtr> ends;
    std::vector<http::ExchangePtr> cut_off;  // stopped at the high-water mark with events to go
    std::vector<std::function<void()>> finished;
    bool cancel_run = false;
    bool held_back = false;  // events were left in the run's stream for the primary client to catch up
    {
      std::lock_guard<std::mutex> guard(mutex_);
      again_ = false;
      for (auto& r : readers_) {
        if (r.done || !r.sub.exchange->closed()) continue;
        r.done = true;
        if (r.sub.primary && r.sub.cancel_on_disconnect && !ended_) cancel_run = true;
      }
      // Take the run's events while the primary client keeps up.
      held_back = !ended_ && primary_behind_locked();
      while (!ended_ && !held_back) {
        auto event = stream_.try_next();
        if (!event) {
          if (stream_.ended()) ended_ = true;
          break;
        }
        if (event->kind == EventKind::run_finished) ended_ = true;
        history_.push_back(std::move(*event));
        if (history_.size() > options_.history_events) {
          history_.pop_front();
          ++first_seq_;
        }
        held_back = primary_behind_locked();
      }
      if (ended_ && !finish_reported_) {
        finish_reported_ = true;
        finished.swap(finish_waiters_);
      }
      // Hand each client what it has not seen, up to its connection's high-water mark.
      const std::uint64_t end = first_seq_ + history_.size();
      for (auto& r : readers_) {
        if (r.done) continue;
        std::size_t queued = r.sub.exchange->buffered();
        if (r.next_seq < first_seq_) {
          auto text = r.sub.format(gap_event(r.next_seq, first_seq_, options_.history_events));
          queued += text.size();
          if (!text.empty()) writes.emplace_back(r.sub.exchange, std::move(text));
          r.next_seq = first_seq_;
        }
        while (r.next_seq < end && queued < options_.high_watermark) {
          auto text = r.sub.format(history_[r.next_seq - first_seq_]);
          ++r.next_seq;
          if (text.empty()) continue;
          queued += text.size();
          writes.emplace_back(r.sub.exchange, std::move(text));
        }
        if (r.next_seq < end) cut_off.push_back(r.sub.exchange);
        if (ended_ && r.next_seq >= end) {
          if (r.sub.trailer)
            if (auto trailer = r.sub.trailer(); !trailer.empty()) writes.emplace_back(r.sub.exchange, std::move(trailer));
          ends.push_back(r.sub.exchange);
          r.done = true;
        }
      }
      readers_.erase(std::remove_if(readers_.begin(), readers_.end(), [](const Reader& r) { return r.done; }),
                     readers_.end());
    }
    // Outside the lock: a write may run the exchange's callbacks, which pump again.
    for (auto& [exchange, text] : writes) exchange->write(std::move(text));
    for (auto& exchange : ends) exchange->end();
    if (cancel_run) run_.cancel();
    for (auto& fn : finished) fn();
    // A connection's on_drain fires only when its queue falls back to the server's low-water mark
    // after being above it. One whose socket took everything at once never gets there: go on now.
    // And the run's stream only says "ready" when an event lands in an empty buffer: when it was held
    // back and the clients have now been handed everything, take more now.
    bool drained = held_back && cut_off.empty();
    for (const auto& exchange : cut_off)
      drained = drained || (!exchange->closed() && exchange->buffered() <= options_.high_watermark / 4);
    std::lock_guard<std::mutex> guard(mutex_);
    if (!again_ && !drained) {
      pumping_ = false;
      return;
    }
  }
}

}  // namespace loomflow::serve
