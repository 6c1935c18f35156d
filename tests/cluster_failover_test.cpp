// Remote tool calls surviving the loss of their worker: this test process is a cluster node (a C++
// `Node`) running an agent; two `loomflow worker` processes serve `bash`. The call's command
// records its idempotency key and redelivery flag, then — on its first dispatch only — hangs, so
// the worker is certainly mid-call when the test SIGKILLs (or SIGSTOPs) it. The router must send
// the call to the other worker with the same key, flagged as a redelivery, and the run completes.
//
// No sleeps: the test waits for the marker line the command writes, and for membership changes.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "cluster_test_support.hpp"
#include "journal_backends.hpp"
#include "loomflow/cluster/node.hpp"
#include "loomflow/providers/builtin.hpp"
#include "scratch.hpp"

namespace {

using namespace loomflow;
using loomflow::cluster::MemberRole;
using loomflow::cluster::MemberState;
using loomflow::cluster::MemberStatus;
using loomflow::testing::Child;
using loomflow::testing::child_environment;
using loomflow::testing::kIsolatedEnvironment;
using loomflow::testing::TempDir;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;  // safety limit only
const std::string kSecret = "failover-secret-0123456789abcdef";

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// Waits (with a deadline) until `file` has at least `n` lines; polling a file the command writes.
bool wait_lines(const std::filesystem::path& file, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_lines(file).size() >= n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class ClusterFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_file_ = dir_.path() / "secret";
    std::ofstream(secret_file_) << kSecret;
    ::chmod(secret_file_.c_str(), 0600);
    log_ = dir_.path() / "calls.log";
    auto config = loomflow::testing::member_config("node", {}, kSecret);
    config.heartbeat_interval = 50ms;
    config.failure_timeout = 400ms;
    node_ = loomflow::testing::start_member(std::move(config));
    ASSERT_TRUE(node_);
    for (const std::string name : {"w1", "w2"}) {
      const auto workdir = dir_.path() / name;
      std::filesystem::create_directories(workdir);
      workers_[name] = std::make_unique<Child>(
          std::vector<std::string>{LOOMFLOW_CLI, "worker", "--join", node_->address(), "--secret-file",
                                   secret_file_.string(), "--name", name, "--tools", "bash", "--workdir",
                                   workdir.string(), "--heartbeat-ms", "50", "--failure-timeout-ms", "400"},
          child_environment(kIsolatedEnvironment, {}));
      ASSERT_TRUE(workers_[name]->started());
    }
    ASSERT_TRUE(sees("w1", MemberState::up) && sees("w2", MemberState::up));
  }

  bool sees(const std::string& name, MemberState state) { return loomflow::testing::sees(*node_, name, state); }

  // An agent whose one tool call runs `command` in bash on some worker, then answers "done".
  RunHandle start_run(const std::string& command) {
    auto bash = node_->tool("bash");
    EXPECT_TRUE(bash) << bash.error().message;
    auto model = providers::scripted(
        {{.tool_calls = {{"c1", "bash", nlohmann::json{{"command", command}}.dump()}}}, {.text = "done"}});
    auto agent = Agent::create({.name = "ops", .model = model, .tools = {*bash}}).value();
    return node_->runtime().start(agent, "run it", {.session_id = SessionId{"s-failover"}});
  }

  // The command: log "<worker dir> <key> <redelivery>", then hang on the first dispatch only.
  std::string marking_command() const {
    return "echo \"$(basename \"$PWD\") $LOOMFLOW_IDEMPOTENCY_KEY $LOOMFLOW_REDELIVERY\" >> " + log_.string() +
           "; if [ \"$LOOMFLOW_REDELIVERY\" = 0 ]; then while :; do sleep 0.05; done; fi; echo finished";
  }

  TempDir dir_{"loomflow-failover"};
  std::filesystem::path secret_file_, log_;
  std::unique_ptr<cluster::Node> node_;
  std::map<std::string, std::unique_ptr<Child>> workers_;
};

}  // namespace

TEST_F(ClusterFailover, AWorkerKilledMidCallHasItsCallRedispatchedWithTheSameKeyAndTheRunCompletes) {
  auto run = start_run(marking_command());
  ASSERT_TRUE(wait_lines(log_, 1));
  const auto first = read_lines(log_).front();
  const std::string victim = first.substr(0, first.find(' '));
  ASSERT_TRUE(workers_.count(victim)) << first;
  workers_[victim]->signal(SIGKILL);
  auto result = run.wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "done");
  const auto lines = read_lines(log_);
  ASSERT_EQ(lines.size(), 2u);
  const std::string survivor = victim == "w1" ? "w2" : "w1";
  EXPECT_EQ(lines[0], victim + " s-failover/ops/turn-1/tool-0 0");
  EXPECT_EQ(lines[1], survivor + " s-failover/ops/turn-1/tool-0 1");
  EXPECT_TRUE(sees(victim, MemberState::down));
  const auto tool_message = result->messages.at(result->messages.size() - 2);
  EXPECT_NE(tool_message.content.find("finished"), std::string::npos) << tool_message.content;
}

TEST_F(ClusterFailover, AHungWorkerHasItsCallRedispatchedAndIsUpAgainOnceItResumes) {
  auto run = start_run(marking_command());
  ASSERT_TRUE(wait_lines(log_, 1));
  const auto first = read_lines(log_).front();
  const std::string victim = first.substr(0, first.find(' '));
  ASSERT_TRUE(workers_.count(victim)) << first;
  workers_[victim]->signal(SIGSTOP);
  auto result = run.wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "done");
  const auto lines = read_lines(log_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].substr(lines[1].find(' ')), " s-failover/ops/turn-1/tool-0 1");
  EXPECT_TRUE(sees(victim, MemberState::unreachable));
  workers_[victim]->signal(SIGCONT);
  EXPECT_TRUE(sees(victim, MemberState::up));
}

// A node process dies (SIGKILL) mid-run: the run — an agent hosted by two node processes, whose bash
// call hangs on a worker — is started again on the other node with the same session; it resumes
// from the PostgreSQL journal both nodes share (the model's turn is replayed, not asked again) and
// re-dispatches the tool call with the same key, flagged as a redelivery.
TEST_F(ClusterFailover, ARunWhoseNodeIsKilledMidRunResumesOnAnotherNodeFromPostgres) {
  if (loomflow::testing::postgres_base_uri() == nullptr) {
    if (loomflow::testing::postgres_required()) FAIL() << "LOOMFLOW_REQUIRE_POSTGRES=1 but LOOMFLOW_TEST_POSTGRES_URI is unset";
    GTEST_SKIP() << "no PostgreSQL server (LOOMFLOW_TEST_POSTGRES_URI)";
  }
  const auto journal = loomflow::testing::fresh_postgres_uri();
  const auto spec = dir_.path() / "ops.json";
  std::ofstream(spec) << nlohmann::json{
      {"loomflow", 1},
      {"name", "ops"},
      {"agents",
       {{"runner",
         {{"model", "scripted"},
          {"script_mode", "per_run"},
          {"script", {{{"tool_calls", {{{"name", "bash"}, {"arguments", {{"command", marking_command()}}}}}}},
                      {{"text", "done"}}}},
          {"tools", {"bash"}}}}}},
      {"workflow", {{"nodes", {{"runner", {{"type", "agent"}, {"agent", "runner"}}}}}}}}.dump();
  std::map<std::string, std::unique_ptr<Child>> nodes;
  for (const std::string name : {"node-b", "node-c"}) {
    nodes[name] = std::make_unique<Child>(
        std::vector<std::string>{LOOMFLOW_CLI, "node", "--listen", "127.0.0.1:0", "--join", node_->address(),
                                 "--secret-file", secret_file_.string(), "--name", name, "--spec", spec.string(),
                                 "--remote-tools", "bash", "--journal", journal, "--heartbeat-ms", "50",
                                 "--failure-timeout-ms", "400"},
        child_environment(kIsolatedEnvironment, {}));
    ASSERT_TRUE(nodes[name]->wait_for_stdout("\"event\":\"listening\"", kWait)) << nodes[name]->err();
  }
  ASSERT_TRUE(sees("node-b", MemberState::up) && sees("node-c", MemberState::up));

  auto run = node_->start_on("ops", "clean up", {.session_id = SessionId{"s-node-loss"}}, "node-b");
  ASSERT_TRUE(wait_lines(log_, 1));  // node-b's agent called bash, which hangs on a worker
  nodes["node-b"]->signal(SIGKILL);
  auto result = run.wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "done");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"runner"}));
  EXPECT_GE(result->replayed_steps, 1u);  // at least the model's first turn came from the journal
  const auto lines = read_lines(log_);
  ASSERT_EQ(lines.size(), 2u);
  const auto key = [](const std::string& line) { return line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1); };
  EXPECT_EQ(key(lines[0]), key(lines[1]));
  EXPECT_EQ(key(lines[0]).rfind("s-node-loss/", 0), 0u) << lines[0];
  EXPECT_EQ(lines[0].back(), '0');
  EXPECT_EQ(lines[1].back(), '1');
}
