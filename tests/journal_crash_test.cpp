// Real crashes: loomflow_crash_child runs a journaled workflow (function nodes, an agent whose
// scripted model makes parallel tool calls with side effects, a parallel group) and is killed with
// SIGKILL at every occurrence of every kill point — before and after model calls, before and after
// a tool's side effect, in nodes, before and after journal commits. Each time, a second process
// resumes the session and must finish with the output and `visited` of an uninterrupted run, and
// no step that was journaled before the kill may run again. For every backend.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "journal_backends.hpp"
#include "loomflow/journal.hpp"
#include "subprocess.hpp"

namespace loomflow {
namespace {

using testing::JournalBackend;

struct ChildRun {
  testing::ProcessOutcome process;
  nlohmann::json result;  // the child's JSON line, when it printed one
};

ChildRun run_child(const std::string& journal, const std::string& session, const std::string& markers,
                   const std::string& point = {}, int at = 0,
                   std::chrono::microseconds kill_after = std::chrono::microseconds(0)) {
  std::vector<std::string> args = {"--journal", journal, "--session", session, "--markers", markers};
  if (!point.empty()) args.insert(args.end(), {"--kill", point, "--at", std::to_string(at)});
  ChildRun run{testing::run_process(LOOMFLOW_CRASH_CHILD, args, kill_after), {}};
  if (!run.process.out.empty()) run.result = nlohmann::json::parse(run.process.out, nullptr, false);
  return run;
}

std::map<std::string, int> marker_counts(const std::string& path) {
  std::map<std::string, int> counts;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) ++counts[line];
  return counts;
}

// The journaled step names of a session, read while no child runs.
std::set<std::string> journaled_steps(const std::string& journal, const std::string& session) {
  std::set<std::string> steps;
  auto store = open_journal(journal);
  EXPECT_TRUE(store) << store.error().describe();
  if (!store) return steps;
  auto history = (*store)->load(SessionId{session});
  EXPECT_TRUE(history) << history.error().describe();
  if (history)
    for (const auto& s : history->steps) steps.insert(s.step_name);
  return steps;
}

// A fresh journal of one backend and a scratch directory for the markers files.
template <class Param>
class ScratchJournalTest : public ::testing::TestWithParam<Param> {
 protected:
  virtual const JournalBackend& backend() const = 0;
  void SetUp() override {
    LOOMFLOW_SKIP_UNAVAILABLE_BACKEND(backend());
    journal_ = backend().fresh_uri();
    dir_ = testing::temp_path("crash");
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    testing::remove_journal(journal_);
    std::filesystem::remove_all(dir_);
  }
  std::string journal_;
  std::string dir_;
};

class JournalCrashTest : public ScratchJournalTest<std::tuple<JournalBackend, std::string>> {
 protected:
  const JournalBackend& backend() const override { return std::get<0>(GetParam()); }
  const std::string& point() const { return std::get<1>(GetParam()); }
};

TEST_P(JournalCrashTest, every_kill_resumes_to_the_uninterrupted_result_without_repeating_journaled_steps) {
  const auto reference = run_child(journal_, "reference", dir_ + "/reference.markers");
  ASSERT_EQ(reference.process.exit_code, 0) << reference.process.out;
  ASSERT_TRUE(reference.result.is_object());
  const int occurrences = reference.result["events"][point()].get<int>();
  ASSERT_GT(occurrences, 0) << "the workflow never reaches kill point " << point();
  EXPECT_EQ(reference.result["replayed_steps"], 0);
  const auto expected_markers = marker_counts(dir_ + "/reference.markers");
  ASSERT_EQ(expected_markers.size(), 3u);  // three tool calls, once each

  for (int at = 1; at <= occurrences; ++at) {
    SCOPED_TRACE(point() + " #" + std::to_string(at));
    const std::string session = "crash-" + point() + "-" + std::to_string(at);
    const std::string markers = dir_ + "/" + session + ".markers";
    const auto crashed = run_child(journal_, session, markers, point(), at);
    if (crashed.process.signal == 0 && point().rfind("commit", 0) == 0) {
      // Group commit is timing-dependent: this run needed fewer commits than the reference, so the
      // kill point was never reached. It must still have finished correctly.
      ASSERT_EQ(crashed.process.exit_code, 0) << crashed.process.out;
      EXPECT_EQ(crashed.result["output"], reference.result["output"]);
      break;
    }
    ASSERT_EQ(crashed.process.signal, SIGKILL) << "exit " << crashed.process.exit_code << ": " << crashed.process.out;

    const auto journaled_at_kill = journaled_steps(journal_, session);
    const auto markers_at_kill = marker_counts(markers);

    const auto resumed = run_child(journal_, session, markers);
    ASSERT_EQ(resumed.process.exit_code, 0) << resumed.process.out;
    EXPECT_EQ(resumed.result["output"], reference.result["output"]);
    EXPECT_EQ(resumed.result["visited"], reference.result["visited"]);
    const auto replayed = resumed.result["replayed_steps"].get<std::size_t>();
    if (!journaled_at_kill.empty()) {
      EXPECT_GT(replayed, 0u);
    }
    EXPECT_LE(replayed, journaled_at_kill.size());  // an agent node replays whole, not turn by turn

    // Side effects: a tool call journaled before the kill never ran again, and the one in flight at
    // the kill was redelivered with its idempotency key — which `mark` checks — so every effect
    // happened exactly once.
    const auto markers_after = marker_counts(markers);
    ASSERT_EQ(markers_after.size(), expected_markers.size());
    for (const auto& [key, count] : markers_after) {
      const std::string step = key.substr(session.size() + 1);
      const int before = markers_at_kill.count(key) ? markers_at_kill.at(key) : 0;
      if (journaled_at_kill.count(step)) {
        EXPECT_EQ(count, before) << key << " was journaled before the kill but ran again";
      }
      EXPECT_EQ(count, 1) << key;
    }
    // Nothing that was journaled is lost or rewritten.
    const auto journaled_after = journaled_steps(journal_, session);
    for (const auto& step : journaled_at_kill) EXPECT_TRUE(journaled_after.count(step)) << step;
  }
}

// SIGKILL at arbitrary instants too — inside RocksDB's or SQLite's own writes, between threads —
// spread over the time an uninterrupted run takes. Wherever the kill lands, the resumed run must
// match, and a step journaled before the kill must not run again.
class JournalRandomKillTest : public ScratchJournalTest<JournalBackend> {
 protected:
  const JournalBackend& backend() const override { return GetParam(); }
};

TEST_P(JournalRandomKillTest, kills_spread_over_a_run_all_resume_to_the_uninterrupted_result) {
  const auto started = std::chrono::steady_clock::now();
  const auto reference = run_child(journal_, "reference", dir_ + "/reference.markers");
  const auto run_time = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  ASSERT_EQ(reference.process.exit_code, 0) << reference.process.out;
  constexpr int kKills = 12;
  int killed = 0;
  for (int i = 0; i < kKills; ++i) {
    const std::string session = "random-" + std::to_string(i);
    const std::string markers = dir_ + "/" + session + ".markers";
    SCOPED_TRACE(session);
    const auto delay = run_time * (2 * i + 1) / (2 * kKills);
    const auto crashed = run_child(journal_, session, markers, {}, 0, delay);
    killed += crashed.process.signal == SIGKILL ? 1 : 0;
    const auto journaled_at_kill = journaled_steps(journal_, session);
    const auto markers_at_kill = marker_counts(markers);
    const auto resumed = run_child(journal_, session, markers);
    ASSERT_EQ(resumed.process.exit_code, 0) << resumed.process.out;
    EXPECT_EQ(resumed.result["output"], reference.result["output"]);
    EXPECT_EQ(resumed.result["visited"], reference.result["visited"]);
    for (const auto& [key, count] : marker_counts(markers)) {
      const std::string step = key.substr(session.size() + 1);
      if (journaled_at_kill.count(step)) {
        EXPECT_EQ(count, markers_at_kill.at(key)) << key << " ran again";
      }
      EXPECT_EQ(count, 1) << key;
    }
  }
  EXPECT_GT(killed, 0) << "no kill landed inside a run";
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalRandomKillTest, ::testing::ValuesIn(testing::durable_backends()),
                         [](const auto& info) { return info.param.name; });

class JournalTornTailTest : public ScratchJournalTest<JournalBackend> {
 protected:
  const JournalBackend& backend() const override { return GetParam(); }
};

TEST_P(JournalTornTailTest, a_record_torn_by_a_crash_mid_write_is_dropped_and_its_step_runs_again) {
  const auto reference = run_child(journal_, "reference", dir_ + "/reference.markers");
  ASSERT_EQ(reference.process.exit_code, 0);
  const std::string session = "torn";
  const auto crashed = run_child(journal_, session, dir_ + "/torn.markers", "commit_after", 3);
  ASSERT_EQ(crashed.process.signal, SIGKILL);
  std::uint64_t last_seq = 0;
  std::string last_step;
  {
    auto store = open_journal(journal_).value();
    auto history = store->load(SessionId{session}).value();
    ASSERT_FALSE(history.steps.empty());
    last_seq = history.steps.back().seq;
    last_step = history.steps.back().step_name;
  }
  // The record as a crash halfway through writing it would leave it: cut short.
  backend().overwrite_step(journal_, session, last_seq, std::string("\x12\x34\x56", 3));
  const auto resumed = run_child(journal_, session, dir_ + "/torn.markers");
  ASSERT_EQ(resumed.process.exit_code, 0) << resumed.process.out;
  EXPECT_EQ(resumed.result["output"], reference.result["output"]);
  EXPECT_EQ(resumed.result["visited"], reference.result["visited"]);
  EXPECT_TRUE(journaled_steps(journal_, session).count(last_step)) << last_step << " was written again";
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalTornTailTest, ::testing::ValuesIn(testing::durable_backends()),
                         [](const auto& info) { return info.param.name; });

// Several processes on one PostgreSQL journal at once, two of them on each session: every process
// finishes with the uninterrupted result, and each step of a session is journaled exactly once
// (the first writer wins; the other process adopts its record).
TEST(JournalSharedPostgres, processes_sharing_a_journal_and_even_sessions_lose_nothing) {
  const auto backend = testing::postgres_backend();
  LOOMFLOW_SKIP_UNAVAILABLE_BACKEND(backend);
  const std::string journal = backend.fresh_uri();
  const std::string dir = testing::temp_path("shared");
  std::filesystem::create_directories(dir);
  const auto reference = run_child(journal, "reference", dir + "/reference.markers");
  ASSERT_EQ(reference.process.exit_code, 0) << reference.process.out;
  const std::size_t steps_per_run = journaled_steps(journal, "reference").size();

  const std::vector<std::string> sessions = {"shared-a", "shared-b", "shared-a", "shared-b", "shared-c", "shared-d"};
  std::vector<ChildRun> runs(sessions.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < sessions.size(); ++i)
    threads.emplace_back([&, i] {
      runs[i] = run_child(journal, sessions[i], dir + "/" + sessions[i] + "-" + std::to_string(i) + ".markers");
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(sessions[i] + " #" + std::to_string(i));
    ASSERT_EQ(runs[i].process.exit_code, 0) << runs[i].process.out;
    EXPECT_EQ(runs[i].result["output"], reference.result["output"]);
    EXPECT_EQ(runs[i].result["visited"], reference.result["visited"]);
  }
  for (const char* session : {"shared-a", "shared-b", "shared-c", "shared-d"}) {
    auto store = open_journal(journal).value();
    auto history = store->load(SessionId{session}).value();
    EXPECT_EQ(history.steps.size(), steps_per_run) << session;
  }
  std::filesystem::remove_all(dir);
}

std::vector<std::tuple<JournalBackend, std::string>> cases() {
  std::vector<std::tuple<JournalBackend, std::string>> out;
  for (const auto& backend : testing::durable_backends())
    for (const char* point : {"node", "model_before", "model_after", "tool_before", "tool_after", "commit_before",
                              "commit_after"})
      out.emplace_back(backend, point);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalCrashTest, ::testing::ValuesIn(cases()), [](const auto& info) {
  return std::get<0>(info.param).name + "_" + std::get<1>(info.param);
});

}  // namespace
}  // namespace loomflow
