// loomflow/actors/hot_worker_policy.hpp — CAF's work-stealing scheduler, except that while a short
// reply from another thread is awaited, one idle worker polls for it instead of parking.
//
// Why: a message from a thread outside the scheduler (the journal's sync thread after an fsync)
// reaches a scheduled actor through central_enqueue. In CAF's policy that lands on a worker parked
// on a condition variable, and waking it costs 25–60 µs on virtual machines — W4 paid it on every
// durable step, on top of the fsync.
//
// Whoever hands work to another thread and expects its answer within microseconds says so with
// AwaitedReplies (the journal, around each commit and load). While any is awaited, an idle worker
// — after CAF's polling phases, and only if no other worker does — polls its own queue, yielding
// between polls (see yielding_poll.hpp), for at most the time under `reply_poll_key`; central
// enqueues go to it. With nothing awaited the scheduler is CAF's: polling when nothing can arrive
// soon only took the core from the busy worker's hyperthread sibling (W5 went from 12 to 20 µs per
// turn), and stealing while polling bounced sequential runs between cores.
//
// Use: cfg.load<caf::scheduler::coordinator<HotWorkerPolicy>>() and put a caf::timespan under
// HotWorkerPolicy::reply_poll_key into cfg.content (0 or absent: never poll, CAF's behaviour).
// Thread-safety: the coordinator and its workers call this concurrently, as CAF's own policy;
// AwaitedReplies may be used from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/coordinator.hpp>

#include "loomflow/actors/yielding_poll.hpp"

namespace loomflow::actors {

class HotWorkerPolicy : public caf::policy::work_stealing {
 public:
  static constexpr const char* reply_poll_key = "loomflow.scheduler.reply-poll";
  static constexpr std::size_t no_worker = std::numeric_limits<std::size_t>::max();

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator* owner)
        : reply_poll(caf::get_or(owner->system().config(), reply_poll_key, caf::timespan{0})) {}

    std::atomic<std::size_t> next_worker{0};  // round robin, as CAF's
    std::atomic<std::size_t> hot{no_worker};  // the worker polling now, if any
    std::atomic<int> awaited{0};              // replies expected soon from other threads
    const caf::timespan reply_poll;  // how long the hot worker polls at most
  };

  // The awaited-replies counter of `system`, or null when its scheduler is not this policy.
  static std::atomic<int>* awaited_replies(caf::actor_system& system) {
    auto* ours = dynamic_cast<caf::scheduler::coordinator<HotWorkerPolicy>*>(&system.scheduler());
    return ours != nullptr ? &ours->data().awaited : nullptr;
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto& shared = d(self);
    std::size_t target = shared.hot.load(std::memory_order_acquire);
    // (If the hot worker gives up at this instant, it still polls its queue before it parks, and
    // external_enqueue wakes it if it did park: nothing is lost.)
    if (target == no_worker) target = shared.next_worker++ % self->num_workers();
    self->worker_by_id(target)->external_enqueue(job);
  }

  // CAF's polling phases (which steal), then, while replies are awaited, the hot phase (own queue
  // only), then park.
  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    if (caf::resumable* job = poll_and_steal(self)) return job;
    auto& shared = d(self->parent());
    if (shared.reply_poll.count() > 0 && shared.awaited.load(std::memory_order_acquire) > 0) {
      std::size_t none = no_worker;
      if (shared.hot.compare_exchange_strong(none, self->id(), std::memory_order_acq_rel)) {
        caf::resumable* job = nullptr;
        poll_yielding(
            [&] {
              job = d(self).queue.take_head();
              return job != nullptr || shared.awaited.load(std::memory_order_acquire) == 0;
            },
            shared.reply_poll);
        shared.hot.store(no_worker, std::memory_order_release);
        if (job != nullptr) return job;
      }
    }
    return park(self);
  }

 private:
  // work_stealing's aggressive and moderate strategies: poll, steal every `steal_interval` polls.
  template <class Worker>
  caf::resumable* poll_and_steal(Worker* self) {
    auto& own = d(self);
    for (std::size_t k = 0; k < 2; ++k) {
      const poll_strategy& strategy = own.strategies[k];
      for (std::size_t i = 0; i < strategy.attempts; i += strategy.step_size) {
        if (caf::resumable* job = own.queue.take_head()) return job;
        if (i % strategy.steal_interval == 0)
          if (caf::resumable* job = try_steal(self)) return job;
        if (strategy.sleep_duration.count() > 0) std::this_thread::sleep_for(strategy.sleep_duration);
      }
    }
    return nullptr;
  }

  // work_stealing's relaxed strategy: wait for the condition variable external_enqueue signals,
  // stealing every `steal_interval` timeouts.
  template <class Worker>
  caf::resumable* park(Worker* self) {
    auto& own = d(self);
    const poll_strategy& relaxed = own.strategies[2];
    for (std::size_t timeouts = 1;; ++timeouts) {
      bool signalled = false;
      {
        std::unique_lock<std::mutex> guard(own.waitdata.lock);
        own.waitdata.sleeping = true;
        signalled = own.waitdata.cv.wait_for(guard, relaxed.sleep_duration, [&] { return !own.queue.empty(); });
        own.waitdata.sleeping = false;
      }
      if (signalled) {
        if (caf::resumable* job = own.queue.take_head()) return job;  // (or it was stolen meanwhile)
      } else if (timeouts % relaxed.steal_interval == 0) {
        if (caf::resumable* job = try_steal(self)) return job;
      }
    }
  }
};

// Marks replies as awaited: add() when work goes to another thread whose answer is microseconds
// away, done() when the answer was taken. Call add() from an actor: the worker running it polls
// once it is idle (from another thread it counts from the next message a worker handles). Inert
// when the system's scheduler is not HotWorkerPolicy.
class AwaitedReplies {
 public:
  explicit AwaitedReplies(caf::actor_system& system) : counter_(HotWorkerPolicy::awaited_replies(system)) {}
  void add() const noexcept {
    if (counter_ != nullptr) counter_->fetch_add(1, std::memory_order_acq_rel);
  }
  void done() const noexcept {
    if (counter_ != nullptr) counter_->fetch_sub(1, std::memory_order_acq_rel);
  }

 private:
  std::atomic<int>* counter_;
};

}  // namespace loomflow::actors
