// The scheduler under every Runtime (HotWorkerPolicy: CAF's work stealing, plus one worker that
// polls while a reply from another thread is awaited) and the yielding poll beneath it.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "loomflow/actors/hot_worker_policy.hpp"
#include "loomflow/actors/yielding_poll.hpp"
#include "loomflow/journal.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow {
namespace {

using actors::AwaitedReplies;
using actors::HotWorkerPolicy;
using actors::poll_yielding;
using Coordinator = caf::scheduler::coordinator<HotWorkerPolicy>;
using namespace std::chrono_literals;

TEST(YieldingPoll, returns_the_first_result_that_is_something) {
  int calls = 0;
  const int found = poll_yielding([&] { return ++calls == 3 ? 42 : 0; }, 1h);
  EXPECT_EQ(found, 42);
  EXPECT_EQ(calls, 3);
}

TEST(YieldingPoll, gives_up_with_the_empty_result_once_its_budget_is_spent_having_tried_at_least_once) {
  int calls = 0;
  const int found = poll_yielding([&] { return ++calls, 0; }, 0ns);
  EXPECT_EQ(found, 0);
  EXPECT_GE(calls, 1);
}

// A system on HotWorkerPolicy with two workers that poll for up to an hour while a reply is
// awaited, and whose parked workers never wake on their own to steal — so which worker runs what
// depends on the policy alone, not on timing.
struct HotSystem {
  static caf::actor_system_config& configure(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 2);
    cfg.set("work-stealing.moderate-sleep-duration", caf::timespan(0));
    cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan(std::chrono::hours(1)));
    cfg.load<Coordinator>();
    caf::put(cfg.content, HotWorkerPolicy::reply_poll_key, caf::timespan(std::chrono::hours(1)));
    return cfg;
  }
  HotSystem() : system(configure(cfg)) {}

  Coordinator::policy_data& shared() { return dynamic_cast<Coordinator&>(system.scheduler()).data(); }
  // Waits until a worker polls (or, with `polling` false, until none does), giving up after 10 s.
  bool wait_for_hot_worker(bool polling) {
    return poll_yielding([&] { return (shared().hot.load() != HotWorkerPolicy::no_worker) == polling; }, 10s);
  }
  // Waits until every worker but `hot` sleeps on its condition variable (a worker still in CAF's
  // polling phases could steal what is meant for the hot one), giving up after 10 s.
  bool wait_for_others_to_park(std::size_t hot) {
    auto& coordinator = dynamic_cast<Coordinator&>(system.scheduler());
    return poll_yielding(
        [&] {
          for (std::size_t i = 0; i < coordinator.num_workers(); ++i) {
            if (i == hot) continue;
            auto& wait = coordinator.worker_by_id(i)->data().waitdata;
            std::lock_guard<std::mutex> guard(wait.lock);
            if (!wait.sleeping) return false;
          }
          return true;
        },
        10s);
  }

  caf::actor_system_config cfg;
  caf::actor_system system;
};

// Answers with the id of the worker it runs on.
caf::behavior worker_reporter(caf::event_based_actor* self) {
  return {[self](int) { return static_cast<int>(static_cast<caf::scheduler::worker<HotWorkerPolicy>*>(self->context())->id()); }};
}

TEST(HotWorkerPolicy, awaited_replies_are_inert_under_cafs_own_scheduler) {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  EXPECT_EQ(HotWorkerPolicy::awaited_replies(system), nullptr);
  AwaitedReplies awaited(system);
  awaited.add();  // nothing to count: must not crash
  awaited.done();
}

TEST(HotWorkerPolicy, awaited_replies_are_counted_on_a_system_that_uses_it) {
  HotSystem hot;
  AwaitedReplies awaited(hot.system);
  awaited.add();
  awaited.add();
  EXPECT_EQ(hot.shared().awaited.load(), 2);
  awaited.done();
  awaited.done();
  EXPECT_EQ(hot.shared().awaited.load(), 0);
}

TEST(HotWorkerPolicy, while_a_reply_is_awaited_one_idle_worker_polls_and_a_message_from_another_thread_goes_to_it) {
  HotSystem hot;
  auto reporter = hot.system.spawn(worker_reporter);
  AwaitedReplies awaited(hot.system);
  awaited.add();
  caf::anon_send(reporter, 0);  // a worker handles it, then polls instead of parking
  ASSERT_TRUE(hot.wait_for_hot_worker(true)) << "no worker started polling within 10 s";
  const auto polling = static_cast<int>(hot.shared().hot.load());
  ASSERT_TRUE(hot.wait_for_others_to_park(polling)) << "the other worker did not park within 10 s";

  std::atomic<int> ran_on{-1};
  std::thread outside([&] {  // a thread outside the scheduler, as the journal's sync thread
    caf::scoped_actor self{hot.system};
    self->request(reporter, caf::infinite, 1).receive([&](int id) { ran_on = id; }, [](caf::error&) {});
  });
  outside.join();
  EXPECT_EQ(ran_on.load(), polling);
  awaited.done();
  caf::anon_send_exit(reporter, caf::exit_reason::user_shutdown);
}

TEST(HotWorkerPolicy, once_nothing_is_awaited_the_polling_worker_parks) {
  HotSystem hot;
  auto reporter = hot.system.spawn(worker_reporter);
  AwaitedReplies awaited(hot.system);
  awaited.add();
  caf::anon_send(reporter, 0);
  ASSERT_TRUE(hot.wait_for_hot_worker(true));
  awaited.done();
  EXPECT_TRUE(hot.wait_for_hot_worker(false)) << "the worker still polls with nothing awaited (its budget is an hour)";
  caf::anon_send_exit(reporter, caf::exit_reason::user_shutdown);
}

TEST(HotWorkerPolicy, a_journaled_run_gives_the_same_result_with_reply_polling_off) {
  auto chain = Workflow::chain("abc", {Node::function("a", [](std::string_view in) { return std::string(in) + "a"; }),
                                       Node::function("b", [](std::string_view in) { return std::string(in) + "b"; })})
                   .value();
  for (auto poll : {0us, 250us}) {
    RuntimeConfig config{2, open_journal("memory:").value()};
    config.reply_poll = poll;
    Runtime runtime(config);
    auto result = runtime.run(chain, "x");
    ASSERT_TRUE(result) << result.error().describe();
    EXPECT_EQ(result->output, "xab") << "reply_poll " << poll.count() << " µs";
    EXPECT_EQ(result->visited, (std::vector<std::string>{"a", "b"}));
  }
}

}  // namespace
}  // namespace loomflow
