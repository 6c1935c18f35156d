// Remote runs (Node::start_on): agents and workflows that one member hosts, started from another —
// on a chosen member or on any — and a run whose member goes away mid-run started again on a
// surviving member with the same session, resuming from a journal both share (PostgreSQL, the
// server ./run.sh test starts; skipped without it unless LOOMFLOW_REQUIRE_POSTGRES=1; and a store
// shared in this process). Members are C++ Nodes in this process, on 127.0.0.1.
//
// No sleeps: tests wait on membership, results and gates their functions block on.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <filesystem>
#include <functional>
#include <random>

#include "cluster_test_support.hpp"
#include "journal_backends.hpp"
#include "loomflow/cluster/node.hpp"
#include "loomflow/journal.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/spec.hpp"
#include "loomflow/tools/builtin.hpp"
#include "loomflow/detail/definitions.hpp"

namespace {

using namespace loomflow;
using loomflow::cluster::MemberState;
using loomflow::cluster::MemberStatus;
using loomflow::cluster::NodeConfig;
using namespace std::chrono_literals;

using loomflow::testing::kClusterWait;
constexpr auto kWait = kClusterWait;

NodeConfig member(std::string name, std::vector<std::string> seeds = {}) {
  return loomflow::testing::member_config(std::move(name), std::move(seeds));
}

std::unique_ptr<cluster::Node> start(NodeConfig config) { return loomflow::testing::start_member(std::move(config)); }

bool sees_up(const cluster::Node& node, const std::string& name) {
  return loomflow::testing::sees(node, name, MemberState::up);
}

// A requester and members "b" and "c" joined through it, each configured by `setup` first.
struct ThreeMembers {
  std::unique_ptr<cluster::Node> requester, b, c;
  bool up() const { return requester && b && c && sees_up(*requester, "b") && sees_up(*requester, "c"); }
};

template <class Setup>
ThreeMembers three_members(Setup setup) {
  ThreeMembers m;
  m.requester = start(member("requester"));
  if (!m.requester) return m;
  auto b_config = member("b", {m.requester->address()});
  auto c_config = member("c", {m.requester->address()});
  setup(b_config, c_config);
  m.b = start(std::move(b_config));
  m.c = start(std::move(c_config));
  return m;
}

Tool tools_builtin_word_count() { return loomflow::tools::builtin_tools().at("word_count"); }

Agent answering(const std::string& name, const std::string& answer) {
  return Agent::create({.name = name, .model = providers::scripted_per_run({{.text = answer}})}).value();
}

// A gate: functions block on it until the test opens it.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  void pass() {
    std::unique_lock<std::mutex> lock(mutex);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  bool wait_waiting(int n) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, kWait, [&] { return waiting >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> guard(mutex);
    open = true;
    cv.notify_all();
  }
};

// What ran where, shared by the members' functions.
struct Log {
  std::mutex mutex;
  std::vector<std::string> lines;
  void add(std::string line) {
    std::lock_guard<std::mutex> guard(mutex);
    lines.push_back(std::move(line));
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard(mutex);
    return lines;
  }
};

// fetch -> process; each logs "<step>@<member>"; `process` waits at `gate` when one is given.
Workflow pipeline(const std::string& member, std::shared_ptr<Log> log, std::shared_ptr<Gate> gate) {
  auto fetch = loomflow::Node::function(
      "fetch",
      [member, log](const NodeContext& ctx) -> Expected<std::string> {
        log->add("fetch@" + member);
        return std::string(ctx.input) + " fetched";
      },
      NodeOptions{.blocking = true});
  auto process = loomflow::Node::function(
      "process",
      [member, log, gate](const NodeContext& ctx) -> Expected<std::string> {
        log->add("process@" + member);
        if (gate) gate->pass();
        return std::string(ctx.input) + ", processed by " + member;
      },
      NodeOptions{.blocking = true});
  return Workflow::chain("pipeline", {fetch, process}).value();
}

}  // namespace

TEST(ClusterRemoteRun, AnAgentHostedByAnotherMemberRunsThereAndItsResultComesBack) {
  auto requester = start(member("requester"));
  ASSERT_TRUE(requester);
  auto host_config = member("host", {requester->address()});
  host_config.agents.emplace("greeter", answering("greeter", "hello from host"));
  auto host = start(std::move(host_config));
  ASSERT_TRUE(host && sees_up(*requester, "host"));
  auto run = requester->start_on("greeter", "hi", {.user_id = UserId{"alice"}, .session_id = SessionId{"s-remote-1"}});
  auto result = run.wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "hello from host");
  EXPECT_EQ(result->session_id.str(), "s-remote-1");
  EXPECT_EQ(result->user_id.str(), "alice");
  EXPECT_EQ(result->usage.model_calls, 1u);
  ASSERT_FALSE(result->messages.empty());
  EXPECT_EQ(result->messages.back().content, "hello from host");
}

TEST(ClusterRemoteRun, ARunGoesToTheMemberNamedForIt) {
  auto cluster = three_members([](NodeConfig& b, NodeConfig& c) {
    b.agents.emplace("greeter", answering("greeter", "from b"));
    c.agents.emplace("greeter", answering("greeter", "from c"));
  });
  ASSERT_TRUE(cluster.up());
  for (int i = 0; i < 3; ++i) {
    auto result = cluster.requester->start_on("greeter", "hi", {}, "c").wait();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->output, "from c");
  }
}

TEST(ClusterRemoteRun, RunsWithoutAChosenMemberSpreadOverTheMembersHostingTheTarget) {
  auto log = std::make_shared<Log>();
  auto gate = std::make_shared<Gate>();
  auto cluster = three_members([&](NodeConfig& b, NodeConfig& c) {
    b.workflows.emplace("pipeline", pipeline("b", log, gate));
    c.workflows.emplace("pipeline", pipeline("c", log, gate));
  });
  ASSERT_TRUE(cluster.up());
  auto first = cluster.requester->start_on("pipeline", "order 1");
  auto second = cluster.requester->start_on("pipeline", "order 2");
  ASSERT_TRUE(gate->wait_waiting(2));  // both are in flight, one on each member
  gate->release();
  auto r1 = first.wait();
  auto r2 = second.wait();
  ASSERT_TRUE(r1 && r2);
  std::set<std::string> hosts = {r1->output.substr(r1->output.rfind(' ') + 1),
                                 r2->output.substr(r2->output.rfind(' ') + 1)};
  EXPECT_EQ(hosts, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(r1->visited, (std::vector<std::string>{"fetch", "process"}));
}

TEST(ClusterRemoteRun, ATargetNoMemberHostsFailsNamingIt) {
  auto requester = start(member("requester"));
  ASSERT_TRUE(requester);
  auto result = requester->start_on("nowhere", "hi").wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::unavailable);
  EXPECT_NE(result.error().message.find("no member that is up hosts 'nowhere'"), std::string::npos)
      << result.error().message;
}

TEST(ClusterRemoteRun, CancellingTheHandleStopsTheRunOnItsMember) {
  auto requester = start(member("requester"));
  ASSERT_TRUE(requester);
  auto log = std::make_shared<Log>();
  auto gate = std::make_shared<Gate>();
  auto host_config = member("host", {requester->address()});
  host_config.workflows.emplace("pipeline", pipeline("host", log, gate));
  auto host = start(std::move(host_config));
  ASSERT_TRUE(host && sees_up(*requester, "host"));
  auto run = requester->start_on("pipeline", "order 1");
  ASSERT_TRUE(gate->wait_waiting(1));
  run.cancel();
  auto result = run.wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::cancelled);
  gate->release();
}

namespace {

// The member running the pipeline leaves mid-run (its Runtime shuts down, as on SIGTERM; SIGKILL of
// a member process is in cluster_process_test): the requester starts the run again on the other
// member with the same session, which resumes from the shared journal — `fetch` is not run again.
void fails_over_and_resumes(std::function<std::shared_ptr<JournalStore>()> journal_for_member) {
  auto requester = start(member("requester"));
  ASSERT_TRUE(requester);
  auto log = std::make_shared<Log>();
  auto b_gate = std::make_shared<Gate>();
  auto b_config = member("b", {requester->address()});
  b_config.workflows.emplace("pipeline", pipeline("b", log, b_gate));
  b_config.runtime.journal = journal_for_member();
  auto c_config = member("c", {requester->address()});
  c_config.workflows.emplace("pipeline", pipeline("c", log, nullptr));
  c_config.runtime.journal = journal_for_member();
  auto b = start(std::move(b_config));
  ASSERT_TRUE(b && sees_up(*requester, "b"));
  const SessionId session("s-failover-" + loomflow::testing::unique_suffix());
  auto run = requester->start_on("pipeline", "order 7", {.session_id = session}, "b");
  ASSERT_TRUE(b_gate->wait_waiting(1));  // fetch is committed; process runs on b
  auto c = start(std::move(c_config));
  ASSERT_TRUE(c && sees_up(*requester, "c"));
  // b leaves while its process step waits; its destructor returns once the gate opens below.
  std::thread leaving([&b] { b.reset(); });
  auto result = run.wait();
  b_gate->release();
  leaving.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "order 7 fetched, processed by c");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"fetch", "process"}));
  EXPECT_EQ(result->replayed_steps, 1u);
  EXPECT_EQ(log->all(), (std::vector<std::string>{"fetch@b", "process@b", "process@c"}));
}

}  // namespace

TEST(ClusterRemoteRun, ARunWhoseMemberLeavesResumesOnAnotherFromASharedStore) {
  auto store = open_journal("memory:").value();
  fails_over_and_resumes([store] { return store; });
}

TEST(ClusterRemoteRun, ARunWhoseMemberLeavesResumesOnAnotherFromPostgres) {
  if (loomflow::testing::postgres_base_uri() == nullptr) {
    if (loomflow::testing::postgres_required()) FAIL() << "LOOMFLOW_REQUIRE_POSTGRES=1 but LOOMFLOW_TEST_POSTGRES_URI is unset";
    GTEST_SKIP() << "no PostgreSQL server (LOOMFLOW_TEST_POSTGRES_URI)";
  }
  const auto uri = loomflow::testing::fresh_postgres_uri();
  // Each member opens the journal itself, as separate processes would.
  fails_over_and_resumes([uri] { return open_journal(uri).value(); });
}

TEST(ClusterRemoteRun, AWorkflowRunsItsNodesOnTheMembersHostingThem) {
  auto cluster = three_members([](NodeConfig& b, NodeConfig& c) {
    b.agents.emplace("fetcher", answering("fetcher", "order 42: two charges of 30 EUR"));
    c.agents.emplace("summarizer", answering("summarizer", "duplicate charge: refund 30 EUR"));
  });
  ASSERT_TRUE(cluster.up());
  auto& coordinator = cluster.requester;
  auto finish = loomflow::Node::function("finish", [](std::string_view in) { return "Done: " + std::string(in); });
  auto workflow = Workflow::chain("distributed", {loomflow::Node::remote("fetch", "fetcher", "b"),
                                                  loomflow::Node::remote("summarize", "summarizer"), finish})
                      .value();
  auto result = coordinator->runtime().run(workflow, "order 42", {.session_id = SessionId{"s-distributed"}});
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "Done: duplicate charge: refund 30 EUR");
  EXPECT_EQ(result->visited, (std::vector<std::string>{"fetch", "summarize", "finish"}));
  EXPECT_EQ(result->usage.model_calls, 2u);  // the hosts' agents, counted here
}

TEST(ClusterRemoteRun, ARemoteNodeOnAPlainRuntimeFailsSayingSo) {
  Runtime runtime(RuntimeConfig{.worker_threads = 1});
  auto workflow = Workflow::chain("w", {loomflow::Node::remote("fetch", "fetcher")}).value();
  auto result = runtime.run(workflow, "x");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("this runtime is not a cluster node"), std::string::npos)
      << result.error().message;
}

TEST(ClusterRemoteRun, ASpecPlacesANodeOnAMemberWithTypeRemote) {
  SpecEnvironment env;
  auto spec = load_spec_text(
      R"({"loomflow": 1, "name": "distributed",
          "workflow": {"nodes": {"fetch": {"type": "remote", "target": "fetcher", "member": "b"}}}})",
      "<inline>", env);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->workflow.impl().nodes.front()->target, "fetcher");
  EXPECT_EQ(spec->workflow.impl().nodes.front()->member, "b");
  auto bad = load_spec_text(
      R"({"loomflow": 1, "name": "d", "workflow": {"nodes": {"fetch": {"type": "remote", "agent": "x"}}}})",
      "<inline>", env);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("$.workflow.nodes.fetch"), std::string::npos) << bad.error().message;
}

TEST(ClusterRemoteRun, AStreamedRemoteRunRelaysItsEventsInOrderBeforeItsResult) {
  auto requester = start(member("requester"));
  ASSERT_TRUE(requester);
  auto host_config = member("host", {requester->address()});
  auto model = providers::scripted_per_run({{.tool_calls = {{"c1", "word_count", R"({"text":"two words"})"}}},
                                            {.text = "It has 2 words."}});
  auto counter = Agent::create({.name = "counter", .model = model, .tools = {tools_builtin_word_count()}}).value();
  host_config.agents.emplace("counter", counter);
  auto host = start(std::move(host_config));
  ASSERT_TRUE(host && sees_up(*requester, "host"));
  auto stream = requester->stream_on("counter", "count: two words", {.session_id = SessionId{"s-stream"}});
  std::vector<std::string> seen;
  while (auto event = stream.next()) seen.push_back(std::string(to_string(event->kind)) + " " + event->path);
  EXPECT_EQ(seen, (std::vector<std::string>{"run_started ", "tool_call_started counter/turn-1/tool-0",
                                            "tool_call_finished counter/turn-1/tool-0",
                                            "text_delta counter/turn-2/model", "run_finished "}));
  auto result = stream.run().wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "It has 2 words.");
}

TEST(ClusterRemoteRun, AWorkflowStreamShowsTheEventsOfItsRemoteNodesUnderTheirSteps) {
  auto coordinator = start(member("coordinator"));
  ASSERT_TRUE(coordinator);
  auto host_config = member("b", {coordinator->address()});
  host_config.agents.emplace("fetcher", answering("fetcher", "fetched"));
  auto host = start(std::move(host_config));
  ASSERT_TRUE(host && sees_up(*coordinator, "b"));
  auto workflow = Workflow::chain("distributed", {loomflow::Node::remote("fetch", "fetcher")}).value();
  auto stream = coordinator->runtime().stream(workflow, "x");
  std::vector<std::string> seen;
  while (auto event = stream.next()) seen.push_back(std::string(to_string(event->kind)) + " " + event->path);
  EXPECT_EQ(seen, (std::vector<std::string>{"run_started ", "node_entered fetch#1",
                                            "text_delta fetch#1/fetcher/turn-1/model", "node_left fetch#1",
                                            "run_finished "}));
}
