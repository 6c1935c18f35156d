// Asynchronous providers: runs waiting on the model are suspended actors, and ending a run early
// stops what is nested in it.
#include <gtest/gtest.h>

#include <optional>

#include "loomflow/providers/held.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::providers::HeldProvider;
using loomflow::testing::shared_runtime;

TEST(AsyncProvider, HundredsOfRunsWaitOnTheModelAtOnceWithoutAThreadEach) {
  auto provider = std::make_shared<HeldProvider>("parked:");
  auto agent = Agent::create({.name = "waiter", .model = Model{provider, "held"}}).value();
  constexpr std::size_t kRuns = 300;  // on a runtime with 2 scheduler threads
  std::vector<RunHandle> runs;
  for (std::size_t i = 0; i < kRuns; ++i) runs.push_back(shared_runtime().start(agent, "q" + std::to_string(i)));
  ASSERT_TRUE(provider->wait_for_held(kRuns));
  for (const auto& run : runs) EXPECT_FALSE(run.ready());
  provider->release_all();
  for (std::size_t i = 0; i < kRuns; ++i) {
    auto result = runs[i].wait();
    ASSERT_TRUE(result) << result.error().describe();
    EXPECT_EQ(result->output, "parked:q" + std::to_string(i));
  }
}

TEST(AsyncProvider, ACompletionCalledTwiceCountsOnce) {
  struct Twice final : Provider {
    std::string_view name() const noexcept override { return "twice"; }
    bool asynchronous() const noexcept override { return true; }
    void start(ModelRequest, Completion done) override {
      done(ModelResponse{Message::assistant("first"), {}});
      done(ModelResponse{Message::assistant("second"), {}});
    }
  };
  auto agent = Agent::create({.name = "a", .model = Model{std::make_shared<Twice>(), "twice"}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "first");
  EXPECT_EQ(result->usage.model_calls, 1u);
}

TEST(AsyncProvider, AProviderWithoutSynchronousCallsSaysSo) {
  struct OnlyAsync final : Provider {
    std::string_view name() const noexcept override { return "only-async"; }
  };
  auto agent = Agent::create({.name = "a", .model = Model{std::make_shared<OnlyAsync>(), "m"}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("only asynchronous calls are supported"), std::string::npos)
      << result.error().message;
}

TEST(AsyncProvider, CancellingAWorkflowWhileItsAgentWaitsEndsTheRunAsCancelled) {
  auto provider = std::make_shared<HeldProvider>("parked:");
  auto agent = Agent::create({.name = "slow", .model = Model{provider, "held"}}).value();
  auto wf = Workflow::chain("w", {Node::agent(agent), loomflow::testing::append("after", "!")}).value();
  auto handle = shared_runtime().start(wf, "question");
  ASSERT_TRUE(provider->wait_for_held(1));
  handle.cancel();
  auto result = handle.wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::cancelled);
  provider->release_all();  // the nested agent already stopped; its late answer goes nowhere
}

TEST(AsyncProvider, ADeadlineEndsARunWhoseModelNeverAnswers) {
  auto provider = std::make_shared<HeldProvider>("parked:");
  auto agent = Agent::create({.name = "slow", .model = Model{provider, "held"}}).value();
  auto result = shared_runtime().run(agent, "q", {.timeout = std::chrono::milliseconds(30)});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::deadline_exceeded);
  EXPECT_NE(result.error().message.find("agent 'slow'"), std::string::npos) << result.error().message;
  provider->release_all();
}

TEST(AsyncProvider, DestroyingTheRuntimeEndsRunsInFlightAsCancelledInsteadOfHanging) {
  auto provider = std::make_shared<HeldProvider>("parked:");
  auto agent = Agent::create({.name = "slow", .model = Model{provider, "held"}}).value();
  auto wf = Workflow::chain("w", {Node::agent(agent), loomflow::testing::append("after", "!")}).value();
  std::optional<RunHandle> workflow_run, agent_run;
  {
    Runtime runtime(RuntimeConfig{1});
    workflow_run = runtime.start(wf, "a");
    agent_run = runtime.start(agent, "b");
    ASSERT_TRUE(provider->wait_for_held(2));
  }
  auto first = workflow_run->wait();
  auto second = agent_run->wait();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, ErrorCode::cancelled);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::cancelled);
  provider->release_all();  // completions to actors that are gone go nowhere
}

TEST(AsyncProvider, CancellingARunCancelsItsModelCallInTheProvider) {
  auto provider = std::make_shared<HeldProvider>();
  auto agent = Agent::create({.name = "slow", .model = Model{provider, "held"}}).value();
  auto handle = shared_runtime().start(agent, "question");
  ASSERT_TRUE(provider->wait_for_held(1));
  handle.cancel();
  EXPECT_EQ(handle.wait().error().code, ErrorCode::cancelled);
  // The agent told the model actor, which told the provider: the held call is gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (provider->held() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(provider->held(), 0u);
}
