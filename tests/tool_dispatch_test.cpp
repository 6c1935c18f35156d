// Tool dispatch options: a per-call timeout that fails one call without touching its siblings, and
// sequential-only tools whose calls never overlap.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>

#include "loomflow/providers/builtin.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::Rendezvous;
using loomflow::testing::shared_runtime;

namespace {

ToolCall call(std::string id, std::string name, std::string args = "{}") {
  return ToolCall{std::move(id), std::move(name), std::move(args)};
}

Tool quick_tool(std::string name) {
  return Tool::function(name, "", "", [name](const ToolContext&, std::string_view) -> Expected<std::string> {
           return name + " ok";
         }).value();
}

}  // namespace

TEST(ToolDispatch, ACallPastItsTimeoutIsAToolErrorAndItsSiblingsStillAnswer) {
  auto release = std::make_shared<std::promise<void>>();
  auto released = release->get_future().share();
  auto stuck = Tool::function("stuck", "", "",
                              [released](const ToolContext&, std::string_view) -> Expected<std::string> {
                                released.wait();  // answers only after the run is over
                                return std::string("too late");
                              },
                              ToolOptions{.blocking = true, .timeout = std::chrono::milliseconds(50)})
                   .value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "stuck"), call("c2", "quick")}},
      {.text = "carried on"},
  });
  auto agent = Agent::create({.name = "a", .model = model, .tools = {stuck, quick_tool("quick")}}).value();
  auto result = shared_runtime().run(agent, "go");
  release->set_value();
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "carried on");
  ASSERT_EQ(result->messages.size(), 5u);  // user, assistant, 2 tool results, assistant
  EXPECT_EQ(result->messages[2].tool_call_id, "c1");
  EXPECT_TRUE(result->messages[2].is_error);
  EXPECT_EQ(result->messages[2].content, "tool 'stuck' timed out after 50 ms")
      << result->messages[2].content;
  EXPECT_EQ(result->messages[3].content, "quick ok");
  EXPECT_EQ(result->usage.tool_errors, 1u);
}

TEST(ToolDispatch, CallsOfASequentialToolNeverOverlapAndRunInCallOrder) {
  struct Probe {
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::mutex mutex;
    std::vector<std::string> order;
  };
  auto probe = std::make_shared<Probe>();
  auto serial = Tool::function("serial", "", "",
                               [probe](const ToolContext&, std::string_view args) -> Expected<std::string> {
                                 const int now = ++probe->inside;
                                 int seen = probe->most_inside.load();
                                 while (now > seen && !probe->most_inside.compare_exchange_weak(seen, now)) {
                                 }
                                 {
                                   std::lock_guard<std::mutex> guard(probe->mutex);
                                   probe->order.emplace_back(args);
                                 }
                                 std::this_thread::yield();  // give an overlapping call its chance
                                 --probe->inside;
                                 return std::string(args);
                               },
                               ToolOptions{.blocking = true, .sequential = true})
                    .value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "serial", R"({"n":1})"), call("c2", "serial", R"({"n":2})"),
                                  call("c3", "serial", R"({"n":3})"), call("c4", "serial", R"({"n":4})")}},
      {.text = "done"},
  });
  auto agent = Agent::create({.name = "a", .model = model, .tools = {serial}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(probe->most_inside.load(), 1);
  EXPECT_EQ(probe->order, (std::vector<std::string>{R"({"n":1})", R"({"n":2})", R"({"n":3})", R"({"n":4})"}));
  EXPECT_EQ(result->messages[5].content, R"({"n":4})");  // results still in call order
}

TEST(ToolDispatch, ASequentialToolStillRunsConcurrentlyWithOtherTools) {
  auto meeting = std::make_shared<Rendezvous>(2);
  auto meet = [meeting](const ToolContext&, std::string_view) -> Expected<std::string> {
    return std::string(meeting->arrive_and_wait() ? "met" : "alone");
  };
  auto serial = Tool::function("serial", "", "", meet, ToolOptions{.blocking = true, .sequential = true}).value();
  auto free = Tool::function("free", "", "", meet, ToolOptions{.blocking = true}).value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {call("c1", "serial"), call("c2", "free")}},
      {.text = "done"},
  });
  auto agent = Agent::create({.name = "a", .model = model, .tools = {serial, free}}).value();
  auto result = shared_runtime().run(agent, "go");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->messages[2].content, "met");
  EXPECT_EQ(result->messages[3].content, "met");
}
