// loomflow/serve/run_hub.hpp — one hosted run's events, fanned out to the clients that read them.
//
// The hub takes events from the run's EventStream into a history (the last `history_events`
// events) and hands each subscriber what it has not seen yet, never more than `high_watermark`
// bytes queued on its connection. A *primary* subscriber — the client whose request started the
// run as a stream — holds the run back: while it is more than `primary_lag_events` behind or its
// socket is full, the hub stops taking events, the EventStream fills, and the model's stream is
// paused (see event_stream.hpp). Other subscribers (attached later) never slow the run; one that
// falls out of the history gets an `error` event saying how many events it missed, then goes on.
// When the primary client disconnects, the run is cancelled, or goes on in the background when the
// request asked for `detach`.
// Thread-safety: every member is thread-safe; pump() may be called from any thread (the run's
// producers, the HTTP I/O thread) and runs one at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "loomflow/event_stream.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve {

struct Subscriber {
  http::ExchangePtr exchange;
  // The bytes one event becomes on this connection; empty: nothing for this client.
  std::function<std::string(const RunEvent&)> format;
  // Sent after the last event (e.g. "data: [DONE]\n\n"); may be null.
  std::function<std::string()> trailer;
  bool primary = false;
  bool cancel_on_disconnect = true;  // primary only: false detaches the run instead
  std::uint64_t from_seq = 1;        // the first event this client wants
};

class RunHub : public std::enable_shared_from_this<RunHub> {
 public:
  struct Options {
    std::size_t history_events = 10'000;
    std::size_t high_watermark = 256 * 1024;  // bytes queued per connection (a quarter of it should be
                                              // the server's low_watermark, 64 KiB by default)
    std::size_t primary_lag_events = 64;
  };

  RunHub(EventStream stream, Options options);
  // Starts taking events; call once, after construction (the hub must be owned by a shared_ptr).
  void start();
  void subscribe(Subscriber subscriber);
  // `fn` runs once the run finished and its last event was taken (at once if that already happened).
  void when_finished(std::function<void()> fn);
  bool finished() const;
  const RunHandle& run() const { return run_; }
  void cancel() { run_.cancel(); }
  // Events taken so far (the history's newest seq).
  std::uint64_t last_seq() const;
  void pump();

 private:
  struct Reader {
    Subscriber sub;
    std::uint64_t next_seq = 1;
    bool done = false;
  };
  bool primary_behind_locked() const;

  Options options_;
  RunHandle run_;
  mutable std::mutex mutex_;
  EventStream stream_;  // try_next() only inside pump(), one pump at a time
  std::deque<RunEvent> history_;
  std::uint64_t first_seq_ = 1;  // seq of history_.front()
  std::vector<Reader> readers_;
  std::vector<std::function<void()>> finish_waiters_;
  bool ended_ = false;
  bool finish_reported_ = false;
  bool pumping_ = false;
  bool again_ = false;
};

}  // namespace loomflow::serve
