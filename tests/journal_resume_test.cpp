// Journaled runs in one process: what is committed, how a second run of the same session replays
// it, where a resumed run picks up after a failure, divergence, ownership, and group commit.
// (Real crashes — SIGKILL at many points — are in journal_crash_test.cpp.)
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "journal_backends.hpp"
#include "loomflow/journal.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow {
namespace {

// A node that counts its executions and appends its name.
Node counted(std::string name, std::shared_ptr<std::atomic<int>> calls) {
  return Node::function(name, [name, calls](std::string_view in) {
    calls->fetch_add(1);
    return std::string(in) + "-" + name;
  });
}

struct JournaledRuntime {
  explicit JournaledRuntime(std::shared_ptr<JournalStore> store_in)
      : store(std::move(store_in)), runtime(RuntimeConfig{2, store}) {}
  std::shared_ptr<JournalStore> store;
  Runtime runtime;
};

std::shared_ptr<JournalStore> memory_journal() { return open_journal("memory:").value(); }

RunOptions session(std::string id, std::string user = "alice") {
  RunOptions o;
  o.session_id = SessionId{std::move(id)};
  o.user_id = UserId{std::move(user)};
  return o;
}

std::vector<std::string> journaled_steps(JournalStore& store, const std::string& session_id) {
  std::vector<std::string> out;
  auto history = store.load(SessionId{session_id});
  EXPECT_TRUE(history) << history.error().describe();
  if (history)
    for (const auto& s : history->steps) out.push_back(s.step_name);
  return out;
}

TEST(JournalResume, a_journaled_run_commits_one_record_per_node_visit) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("abc", {counted("a", calls), counted("b", calls), counted("c", calls)}).value();
  JournaledRuntime jr(memory_journal());
  auto result = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "x-a-b-c");
  EXPECT_EQ(result->replayed_steps, 0u);
  EXPECT_EQ(journaled_steps(*jr.store, "s1"), (std::vector<std::string>{"a#1", "b#1", "c#1"}));
}

TEST(JournalResume, running_a_finished_session_again_replays_every_step_without_running_any) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("abc", {counted("a", calls), counted("b", calls), counted("c", calls)}).value();
  JournaledRuntime jr(memory_journal());
  auto first = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_TRUE(first);
  ASSERT_EQ(calls->load(), 3);
  auto second = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(calls->load(), 3);
  EXPECT_EQ(second->output, first->output);
  EXPECT_EQ(second->visited, first->visited);
  EXPECT_EQ(second->replayed_steps, 3u);
  EXPECT_TRUE(second->trace[0].replayed);
}

TEST(JournalResume, a_run_that_failed_midway_resumes_after_its_last_journaled_step) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto flaky_attempts = std::make_shared<std::atomic<int>>(0);
  auto flaky = Node::function("flaky", [flaky_attempts](std::string_view in) -> Expected<std::string> {
    if (flaky_attempts->fetch_add(1) == 0) return Error{ErrorCode::unavailable, "first attempt fails"};
    return std::string(in) + "-flaky";
  });
  auto wf = Workflow::chain("w", {counted("a", calls), counted("b", calls), flaky, counted("c", calls)}).value();
  JournaledRuntime jr(memory_journal());
  auto failed = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(journaled_steps(*jr.store, "s1"), (std::vector<std::string>{"a#1", "b#1"}));
  auto resumed = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_TRUE(resumed) << resumed.error().describe();
  EXPECT_EQ(resumed->output, "x-a-b-flaky-c");
  EXPECT_EQ(resumed->visited, (std::vector<std::string>{"a", "b", "flaky", "c"}));
  EXPECT_EQ(calls->load(), 3);  // a and b once, c once: nothing journaled ran twice
  EXPECT_EQ(resumed->replayed_steps, 2u);
}

TEST(JournalResume, the_session_record_tracks_user_status_output_and_origin) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("w", {counted("a", calls)}).value();
  JournaledRuntime jr(memory_journal());
  auto options = session("s1", "bob");
  options.origin = R"({"spec":"w.json"})";
  ASSERT_TRUE(jr.runtime.run(wf, "x", options));
  jr.runtime.~Runtime();  // flushes the final session record
  new (&jr.runtime) Runtime(RuntimeConfig{2, jr.store});
  auto sessions = jr.store->sessions(SessionFilter{UserId{"bob"}, std::nullopt});
  ASSERT_TRUE(sessions) << sessions.error().describe();
  ASSERT_EQ(sessions->size(), 1u);
  const auto& info = sessions->front();
  EXPECT_EQ(info.session_id.str(), "s1");
  EXPECT_EQ(info.target, "w");
  EXPECT_EQ(info.input, "x");
  EXPECT_EQ(info.origin, R"({"spec":"w.json"})");
  EXPECT_EQ(info.status, SessionStatus::finished);
  EXPECT_EQ(info.output, "x-a");
  EXPECT_GT(info.created_unix_ms, 0);
  EXPECT_GE(info.updated_unix_ms, info.created_unix_ms);
}

TEST(JournalResume, another_users_session_cannot_be_resumed) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("w", {counted("a", calls)}).value();
  JournaledRuntime jr(memory_journal());
  ASSERT_TRUE(jr.runtime.run(wf, "x", session("s1", "alice")));
  auto stolen = jr.runtime.run(wf, "x", session("s1", "mallory"));
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.error().code, ErrorCode::permission_denied);
  EXPECT_EQ(calls->load(), 1);
}

TEST(JournalResume, resuming_with_another_input_is_a_divergence) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("w", {counted("a", calls)}).value();
  JournaledRuntime jr(memory_journal());
  ASSERT_TRUE(jr.runtime.run(wf, "x", session("s1")));
  auto other = jr.runtime.run(wf, "y", session("s1"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::journal_divergence);
}

// A router that reads a flag: flipping it between the runs makes the resumed run branch differently.
Workflow flag_router(std::shared_ptr<std::atomic<int>> flag, std::shared_ptr<std::atomic<int>> calls,
                     bool fail_in_branch) {
  auto branch_fail = std::make_shared<std::atomic<bool>>(fail_in_branch);
  auto after = Node::function("after", [branch_fail](std::string_view in) -> Expected<std::string> {
    if (branch_fail->exchange(false)) return Error{ErrorCode::unavailable, "crash stand-in"};
    return std::string(in);
  });
  return WorkflowBuilder("w")
      .add_node(counted("pick", calls))
      .add_node(counted("left", calls))
      .add_node(counted("right", calls))
      .add_node(after)
      .add_router("pick",
                  [flag](std::string_view) -> Expected<std::string> {
                    return std::string(flag->load() == 0 ? "left" : flag->load() == 1 ? "right" : "end");
                  },
                  {{"left", "left"}, {"right", "right"}, {"end", std::string(Workflow::END)}})
      .add_edge("left", "after")
      .add_edge("right", "after")
      .build()
      .value();
}

TEST(JournalResume, a_router_that_takes_another_branch_on_resume_is_a_divergence_naming_the_step) {
  auto flag = std::make_shared<std::atomic<int>>(0);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = flag_router(flag, calls, true);
  JournaledRuntime jr(memory_journal());
  ASSERT_FALSE(jr.runtime.run(wf, "x", session("s1")));  // pick#1, left#1 journaled; after failed
  flag->store(1);
  auto resumed = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_FALSE(resumed);
  EXPECT_EQ(resumed.error().code, ErrorCode::journal_divergence);
  EXPECT_NE(resumed.error().message.find("'right#1'"), std::string::npos) << resumed.error().message;
  EXPECT_NE(resumed.error().message.find("'left#1'"), std::string::npos) << resumed.error().message;
  EXPECT_EQ(calls->load(), 2);  // right never ran
}

TEST(JournalResume, a_router_that_now_ends_the_run_early_is_a_divergence) {
  auto flag = std::make_shared<std::atomic<int>>(0);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = flag_router(flag, calls, true);
  JournaledRuntime jr(memory_journal());
  ASSERT_FALSE(jr.runtime.run(wf, "x", session("s1")));
  flag->store(2);
  auto resumed = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_FALSE(resumed);
  EXPECT_EQ(resumed.error().code, ErrorCode::journal_divergence);
  EXPECT_NE(resumed.error().message.find("ends after 'pick#1'"), std::string::npos) << resumed.error().message;
}

TEST(JournalResume, parallel_branches_and_their_join_are_journaled_and_replayed) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto fail_join = std::make_shared<std::atomic<bool>>(true);
  auto join = Node::function("join", [fail_join](std::string_view in) -> Expected<std::string> {
    if (fail_join->exchange(false)) return Error{ErrorCode::unavailable, "crash stand-in"};
    return std::string(in);
  });
  auto wf = Workflow::parallel("p", {counted("x", calls), counted("y", calls), counted("z", calls)}, join).value();
  JournaledRuntime jr(memory_journal());
  ASSERT_FALSE(jr.runtime.run(wf, "in", session("s1")));
  auto steps = journaled_steps(*jr.store, "s1");
  std::sort(steps.begin(), steps.end());
  EXPECT_EQ(steps, (std::vector<std::string>{"x#1", "y#1", "z#1"}));
  auto resumed = jr.runtime.run(wf, "in", session("s1"));
  ASSERT_TRUE(resumed) << resumed.error().describe();
  EXPECT_EQ(calls->load(), 3);
  EXPECT_EQ(resumed->visited, (std::vector<std::string>{"x", "y", "z", "join"}));
  EXPECT_EQ(resumed->replayed_steps, 3u);
  auto again = jr.runtime.run(wf, "in", session("s1"));
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->output, resumed->output);
  EXPECT_EQ(again->replayed_steps, 4u);
}

ToolCall call(std::string id, std::string name, std::string args) {
  return ToolCall{std::move(id), std::move(name), std::move(args)};
}

TEST(JournalResume, model_calls_and_tool_dispatches_are_journaled_and_never_repeated) {
  auto tool_calls = std::make_shared<std::atomic<int>>(0);
  auto keys = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  auto tool = Tool::function("mark", "", "", [tool_calls, keys, mutex](const ToolContext& ctx, std::string_view) -> Expected<std::string> {
                tool_calls->fetch_add(1);
                std::lock_guard<std::mutex> guard(*mutex);
                keys->emplace_back(ctx.idempotency_key);
                return std::string("marked");
              }).value();
  auto script = [] {
    return std::vector<providers::ScriptedReply>{
        {.text = "", .tool_calls = {call("c1", "mark", "{}"), call("c2", "mark", R"({"n":2})")}, .step = "helper/turn-1/model"},
        {.text = "done", .step = "helper/turn-2/model"},
    };
  };
  auto first_model = providers::scripted(script());
  auto agent = Agent::create({.name = "helper", .model = first_model, .tools = {tool}}).value();
  JournaledRuntime jr(memory_journal());
  auto first = jr.runtime.run(agent, "go", session("s1"));
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(journaled_steps(*jr.store, "s1").size(), 6u);  // 2 model calls, 2 tool results, 2 dispatch markers
  std::sort(keys->begin(), keys->end());  // the two calls ran concurrently
  EXPECT_EQ(*keys, (std::vector<std::string>{"s1/helper/turn-1/tool-0", "s1/helper/turn-1/tool-1"}));
  // Same definition, a fresh script: a replayed run must not consume any of it.
  auto second_model = providers::scripted(script());
  auto agent2 = Agent::create({.name = "helper", .model = second_model, .tools = {tool}}).value();
  auto second = jr.runtime.run(agent2, "go", session("s1"));
  ASSERT_TRUE(second) << second.error().describe();
  EXPECT_EQ(second->output, "done");
  EXPECT_EQ(second->messages, first->messages);
  EXPECT_EQ(tool_calls->load(), 2);
  EXPECT_EQ(std::dynamic_pointer_cast<providers::ScriptedProvider>(second_model.provider)->calls(), 0u);
  EXPECT_EQ(second->replayed_steps, 4u);
}

TEST(JournalResume, only_tools_that_are_not_idempotent_get_a_dispatch_marker_before_they_run) {
  auto ok = [](const ToolContext&, std::string_view) -> Expected<std::string> { return std::string("ok"); };
  auto risky = Tool::function("risky", "", "", ok).value();
  auto safe = Tool::function("safe", "", "", ok, ToolOptions{.idempotent = true}).value();
  auto agent = Agent::create({.name = "a",
                              .model = providers::scripted({{.text = "", .tool_calls = {call("c1", "risky", "{}"),
                                                                                         call("c2", "safe", "{}")}},
                                                            {.text = "done"}}),
                              .tools = {risky, safe}})
                   .value();
  JournaledRuntime jr(memory_journal());
  ASSERT_TRUE(jr.runtime.run(agent, "go", session("s1")));
  auto steps = journaled_steps(*jr.store, "s1");
  EXPECT_NE(std::find(steps.begin(), steps.end(), "a/turn-1/tool-0@dispatch"), steps.end());
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "a/turn-1/tool-1@dispatch"), steps.end());
}

TEST(JournalResume, a_tool_dispatch_cut_short_by_its_run_ending_is_redelivered_with_the_same_key) {
  struct Seen {
    std::mutex mutex;
    std::vector<std::pair<std::string, bool>> calls;  // key, redelivery
  };
  auto seen = std::make_shared<Seen>();
  auto entered = std::make_shared<std::promise<void>>();
  auto release = std::make_shared<std::promise<void>>();
  auto released = release->get_future().share();
  auto first = std::make_shared<std::atomic<bool>>(true);
  auto tool = Tool::function("pay", "", "",
                             [=](const ToolContext& ctx, std::string_view) -> Expected<std::string> {
                               {
                                 std::lock_guard<std::mutex> guard(seen->mutex);
                                 seen->calls.emplace_back(std::string(ctx.idempotency_key), ctx.redelivery);
                               }
                               if (first->exchange(false)) {
                                 entered->set_value();
                                 released.wait();  // the run ends meanwhile: this result is never used
                               }
                               return std::string("paid");
                             },
                             ToolOptions{.blocking = true})
                  .value();
  auto script = [] {
    return std::vector<providers::ScriptedReply>{
        {.text = "", .tool_calls = {call("c1", "pay", "{}")}, .step = "a/turn-1/model"},
        {.text = "done", .step = "a/turn-2/model"},
    };
  };
  JournaledRuntime jr(memory_journal());
  auto agent = Agent::create({.name = "a", .model = providers::scripted(script()), .tools = {tool}}).value();
  auto handle = jr.runtime.start(agent, "go", session("s1"));
  entered->get_future().wait();
  handle.cancel();
  ASSERT_FALSE(handle.wait());
  release->set_value();
  auto again = Agent::create({.name = "a", .model = providers::scripted(script()), .tools = {tool}}).value();
  auto resumed = jr.runtime.run(again, "go", session("s1"));
  ASSERT_TRUE(resumed) << resumed.error().describe();
  EXPECT_EQ(resumed->output, "done");
  std::lock_guard<std::mutex> guard(seen->mutex);
  ASSERT_EQ(seen->calls.size(), 2u);
  EXPECT_EQ(seen->calls[0], std::make_pair(std::string("s1/a/turn-1/tool-0"), false));
  EXPECT_EQ(seen->calls[1], std::make_pair(std::string("s1/a/turn-1/tool-0"), true));
}

TEST(JournalResume, a_changed_agent_instruction_is_a_divergence_at_the_model_step) {
  auto tool = Tool::function("noop", "", "", [](const ToolContext&, std::string_view) -> Expected<std::string> {
                return std::string("ok");
              }).value();
  auto make = [&](std::string instructions, std::vector<providers::ScriptedReply> script) {
    return Agent::create({.name = "a", .instructions = std::move(instructions), .model = providers::scripted(std::move(script)),
                          .tools = {tool}})
        .value();
  };
  JournaledRuntime jr(memory_journal());
  ASSERT_TRUE(jr.runtime.run(make("be brief", {{.text = "hi"}}), "go", session("s1")));
  auto resumed = jr.runtime.run(make("be verbose", {{.text = "hi"}}), "go", session("s1"));
  ASSERT_FALSE(resumed);
  EXPECT_EQ(resumed.error().code, ErrorCode::journal_divergence);
  EXPECT_NE(resumed.error().message.find("a/turn-1/model"), std::string::npos) << resumed.error().message;
}

TEST(JournalResume, an_agent_node_inside_a_workflow_is_skipped_whole_once_journaled) {
  auto model = providers::scripted({{.text = "answer"}});
  auto agent = Agent::create({.name = "bot", .model = model}).value();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("w", {counted("prep", calls), Node::agent(agent)}).value();
  JournaledRuntime jr(memory_journal());
  ASSERT_TRUE(jr.runtime.run(wf, "q", session("s1")));
  EXPECT_EQ(journaled_steps(*jr.store, "s1"),
            (std::vector<std::string>{"prep#1", "bot#1/turn-1/model", "bot#1"}));
  auto again = jr.runtime.run(wf, "q", session("s1"));
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->output, "answer");
  EXPECT_EQ(again->replayed_steps, 2u);  // prep#1 and bot#1: the agent's inner steps were not needed
}

// A store whose commits fail: a step whose result cannot be journaled must not be used.
class FailingStore final : public JournalStore {
 public:
  std::string uri() const override { return "failing:"; }
  Expected<SessionHistory> load(const SessionId&) override { return SessionHistory{}; }
  Expected<std::vector<StepRecord>> commit(JournalBatch batch) override {
    if (batch.steps.empty()) return std::vector<StepRecord>{};
    return Error{ErrorCode::journal_error, "disk full"};
  }
  Expected<std::vector<SessionInfo>> sessions(const SessionFilter&) override { return std::vector<SessionInfo>{}; }
  Expected<std::size_t> erase(const std::vector<SessionId>&) override { return std::size_t{0}; }
  Expected<JournalStats> stats() override { return JournalStats{}; }
};

TEST(JournalResume, a_step_that_cannot_be_journaled_fails_the_run_naming_the_step) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto wf = Workflow::chain("w", {counted("a", calls), counted("b", calls)}).value();
  JournaledRuntime jr(std::make_shared<FailingStore>());
  auto result = jr.runtime.run(wf, "x", session("s1"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::journal_error);
  EXPECT_NE(result.error().message.find("step 'a#1'"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("disk full"), std::string::npos) << result.error().message;
  EXPECT_EQ(calls->load(), 1);  // b never ran on an unjournaled a
}

TEST(JournalResume, many_concurrent_runs_share_one_journal_and_lose_nothing) {
  const std::string dir = testing::temp_path("concurrent");
  {
    auto store = open_journal("rocksdb:" + dir).value();
    auto calls = std::make_shared<std::atomic<int>>(0);
    std::vector<Node> nodes;
    for (int i = 0; i < 10; ++i) nodes.push_back(counted("n" + std::to_string(i), calls));
    auto wf = Workflow::chain("w", nodes).value();
    JournaledRuntime jr(store);
    std::vector<RunHandle> handles;
    for (int r = 0; r < 50; ++r) handles.push_back(jr.runtime.start(wf, "x", session("run-" + std::to_string(r))));
    for (auto& h : handles) ASSERT_TRUE(h.wait()) << h.wait().error().describe();
    for (int r = 0; r < 50; ++r) EXPECT_EQ(journaled_steps(*store, "run-" + std::to_string(r)).size(), 10u);
  }
  std::filesystem::remove_all(dir);
}

TEST(JournalResume, a_rocksdb_journal_resumes_a_session_in_a_new_runtime_after_reopening) {
  const std::string dir = testing::temp_path("reopen");
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto flaky_attempts = std::make_shared<std::atomic<int>>(0);
  auto flaky = Node::function("flaky", [flaky_attempts](std::string_view in) -> Expected<std::string> {
    if (flaky_attempts->fetch_add(1) == 0) return Error{ErrorCode::unavailable, "first attempt fails"};
    return std::string(in) + "-flaky";
  });
  auto wf = Workflow::chain("w", {counted("a", calls), flaky}).value();
  {
    JournaledRuntime jr(open_journal("rocksdb:" + dir).value());
    ASSERT_FALSE(jr.runtime.run(wf, "x", session("s1")));
  }
  {
    JournaledRuntime jr(open_journal("rocksdb:" + dir).value());
    auto resumed = jr.runtime.run(wf, "x", session("s1"));
    ASSERT_TRUE(resumed) << resumed.error().describe();
    EXPECT_EQ(resumed->output, "x-a-flaky");
    EXPECT_EQ(calls->load(), 1);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loomflow
