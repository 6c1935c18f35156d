// Cluster nodes and workers as C++ `Node`s, several in this process (each with its own actor system
// and middleman, talking over 127.0.0.1): joining and refusals, remote tool calls and how the router
// balances, queues and gives up. Real processes (SIGKILL, SIGSTOP, the CLI) are in
// cluster_process_test.cpp.
//
// No sleeps: tests wait on membership (Node::wait_until) and on latches the tools open.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "loomflow/cluster/node.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"
#include "cluster_test_support.hpp"
#include "loomflow/actors/type_registry.hpp"
#include "loomflow/cluster/protocol.hpp"

namespace {

using namespace loomflow;
using loomflow::cluster::ClusterAccess;
using loomflow::cluster::MemberRole;
using loomflow::cluster::MemberState;
using loomflow::cluster::MemberStatus;
using loomflow::cluster::NodeConfig;
using loomflow::cluster::query_members;
using namespace std::chrono_literals;

using loomflow::testing::kClusterSecret;
using loomflow::testing::kClusterWait;
using loomflow::testing::sees;
using loomflow::testing::start_member;
constexpr auto kWait = kClusterWait;

NodeConfig node_config(std::string name, std::vector<std::string> seeds = {}, std::string secret = kClusterSecret) {
  return loomflow::testing::member_config(std::move(name), std::move(seeds), std::move(secret));
}

std::unique_ptr<cluster::Node> start(NodeConfig config) { return start_member(std::move(config)); }

// A gate the test opens: tools block on it so calls are "in flight" for as long as the test wants.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> guard(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void pass() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// What a worker's tool saw, shared with the test.
struct Calls {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> seen;  // "<worker> <key> <redelivery>"
  void add(std::string entry) {
    std::lock_guard<std::mutex> guard(mutex);
    seen.push_back(std::move(entry));
    cv.notify_all();
  }
  bool wait_count(std::size_t n) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, kWait, [&] { return seen.size() >= n; });
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard(mutex);
    return seen;
  }
};

// "lookup" {"order": n}: records who served it, waits at the gate, answers "order n: shipped by W".
Tool lookup_tool(const std::string& worker, std::shared_ptr<Calls> calls, std::shared_ptr<Gate> gate) {
  return Tool::function(
             "lookup", "Looks an order up.",
             R"({"type":"object","properties":{"order":{"type":"integer"}},"required":["order"]})",
             [worker, calls, gate](const ToolContext& ctx, std::string_view args) -> Expected<std::string> {
               calls->add(worker + " " + std::string(ctx.idempotency_key) + " " + (ctx.redelivery ? "1" : "0"));
               if (gate) gate->pass();
               auto order = nlohmann::json::parse(args)["order"].get<int>();
               return "order " + std::to_string(order) + ": shipped by " + worker;
             },
             ToolOptions{.blocking = true})
      .value();
}

NodeConfig worker_config(std::string name, std::string seed, std::vector<Tool> tools, std::uint32_t capacity = 16) {
  auto config = node_config(std::move(name), {std::move(seed)});
  config.role = MemberRole::worker;
  config.tools = std::move(tools);
  config.capacity = capacity;
  return config;
}

Agent caller(Model model, Tool tool) {
  return Agent::create({.name = "support", .model = std::move(model), .tools = {std::move(tool)}}).value();
}

}  // namespace

TEST(ClusterNode, TwoNodesWithTheSameSecretSeeEachOtherUp) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto b = start(node_config("b", {a->address()}));
  ASSERT_TRUE(b);
  EXPECT_TRUE(sees(*a, "b", MemberState::up));
  EXPECT_TRUE(sees(*b, "a", MemberState::up));
  auto members = b->members();
  ASSERT_FALSE(members.empty());
  EXPECT_TRUE(members.front().self);
  EXPECT_EQ(members.front().info.name, "b");
}

TEST(ClusterNode, ANodeJoiningThroughOneSeedMeetsEveryMember) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto b = start(node_config("b", {a->address()}));
  ASSERT_TRUE(b);
  auto c = start(node_config("c", {b->address()}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(sees(*a, "c", MemberState::up));
  EXPECT_TRUE(sees(*c, "a", MemberState::up));
}

TEST(ClusterNode, ANodeWithAnotherSecretIsRefusedNamingTheSeed) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto intruder = cluster::Node::start(node_config("intruder", {a->address()}, "another secret, 32 bytes long...."));
  ASSERT_FALSE(intruder);
  EXPECT_EQ(intruder.error().code, ErrorCode::permission_denied);
  EXPECT_NE(intruder.error().message.find(a->address()), std::string::npos) << intruder.error().message;
  EXPECT_NE(intruder.error().message.find("secret"), std::string::npos) << intruder.error().message;
  for (const auto& m : a->members()) EXPECT_NE(m.info.name, "intruder");
}

TEST(ClusterNode, ANodeWithoutASecretIsRefusedByOneThatHasOne) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto config = node_config("open", {a->address()}, "");
  config.access.insecure = true;
  auto open = cluster::Node::start(std::move(config));
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, ErrorCode::permission_denied);
}

TEST(ClusterNode, ANodeNeedsASecretOrTls) {
  auto node = cluster::Node::start(node_config("a", {}, ""));
  ASSERT_FALSE(node);
  EXPECT_EQ(node.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(node.error().message.find("secret or TLS"), std::string::npos) << node.error().message;
}

TEST(ClusterNode, ABadSeedAddressIsAConfigError) {
  auto node = cluster::Node::start(node_config("a", {"localhost"}));
  ASSERT_FALSE(node);
  EXPECT_EQ(node.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(node.error().message.find("seed address 'localhost'"), std::string::npos) << node.error().message;
}

TEST(ClusterNode, QueryMembersListsTheClusterWithoutJoiningIt) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto b = start(node_config("b", {a->address()}));
  ASSERT_TRUE(b && sees(*a, "b", MemberState::up));
  auto members = query_members(a->address(), ClusterAccess{.secret = kClusterSecret});
  ASSERT_TRUE(members) << members.error().message;
  std::set<std::string> names;
  for (const auto& m : *members) names.insert(m.info.name);
  EXPECT_EQ(names, (std::set<std::string>{"a", "b"}));
  auto refused = query_members(a->address(), ClusterAccess{.secret = "a wrong secret of 32 bytes......"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::permission_denied);
}

TEST(ClusterNode, AnAgentCallsAToolServedByAWorkerWithTheStepsIdempotencyKey) {
  auto node = start(node_config("node"));
  ASSERT_TRUE(node);
  auto calls = std::make_shared<Calls>();
  auto worker = start(worker_config("w1", node->address(), {lookup_tool("w1", calls, nullptr)}));
  ASSERT_TRUE(worker && sees(*node, "w1", MemberState::up));
  auto lookup = node->tool("lookup");
  ASSERT_TRUE(lookup) << lookup.error().message;
  EXPECT_EQ(lookup->spec().description, "Looks an order up.");
  auto model = providers::scripted({{.tool_calls = {{"c1", "lookup", R"({"order":42})"}}},
                                    {.text = "shipped", .expect = "order 42: shipped by w1"}});
  auto result = node->runtime().run(caller(model, *lookup), "Where is order 42?",
                                    {.session_id = SessionId{"s-42"}});
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "shipped");
  EXPECT_EQ(calls->all(), (std::vector<std::string>{"w1 s-42/support/turn-1/tool-0 0"}));
}

TEST(ClusterNode, ConcurrentCallsGoToTheWorkerWithFewestOutstandingAndQueueBeyondCapacity) {
  auto node = start(node_config("node"));
  ASSERT_TRUE(node);
  auto calls = std::make_shared<Calls>();
  auto gate = std::make_shared<Gate>();
  auto w1 = start(worker_config("w1", node->address(), {lookup_tool("w1", calls, gate)}, 1));
  auto w2 = start(worker_config("w2", node->address(), {lookup_tool("w2", calls, gate)}, 1));
  ASSERT_TRUE(w1 && w2 && sees(*node, "w1", MemberState::up) && sees(*node, "w2", MemberState::up));
  auto lookup = node->tool("lookup").value();
  // One turn, three parallel calls, two workers of capacity 1: two run, the third waits in line.
  auto model = providers::scripted({{.tool_calls = {{"c1", "lookup", R"({"order":1})"},
                                                    {"c2", "lookup", R"({"order":2})"},
                                                    {"c3", "lookup", R"({"order":3})"}}},
                                    {.text = "done"}});
  auto run = node->runtime().start(caller(model, lookup), "three orders");
  ASSERT_TRUE(calls->wait_count(2));
  auto first = calls->all();
  ASSERT_EQ(first.size(), 2u);  // the third is held back: both workers are full
  std::set<std::string> workers = {first[0].substr(0, 2), first[1].substr(0, 2)};
  EXPECT_EQ(workers, (std::set<std::string>{"w1", "w2"}));
  gate->open();
  auto result = run.wait();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(calls->all().size(), 3u);
  EXPECT_EQ(result->output, "done");
}

TEST(ClusterNode, ACallOfAToolNoWorkerServesIsAToolErrorAfterTheWait) {
  auto config = node_config("node");
  config.unserved_timeout = 100ms;
  auto node = start(std::move(config));
  ASSERT_TRUE(node);
  EXPECT_FALSE(node->tool("lookup"));
  auto lookup = Tool::remote(ToolSpec{"lookup", "Looks an order up.", ""}).value();
  auto model = providers::scripted(
      {{.tool_calls = {{"c1", "lookup", "{}"}}},
       {.text = "sorry", .expect = "no member of the cluster serves tool 'lookup' (waited 100 ms)"}});
  auto result = node->runtime().run(caller(model, lookup), "?");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "sorry");
}

TEST(ClusterNode, ARemoteToolOnAPlainRuntimeIsAToolErrorSayingSo) {
  Runtime runtime(RuntimeConfig{.worker_threads = 1});
  auto lookup = Tool::remote(ToolSpec{"lookup", "Looks an order up.", ""}).value();
  auto model = providers::scripted({{.tool_calls = {{"c1", "lookup", "{}"}}},
                                    {.text = "sorry", .expect = "this runtime is not a cluster node"}});
  auto result = runtime.run(caller(model, lookup), "?");
  ASSERT_TRUE(result) << result.error().message;
}

TEST(ClusterNode, AWorkerThatLeavesIsSeenDownAndItsToolsAreNoLongerOffered) {
  auto node = start(node_config("node"));
  ASSERT_TRUE(node);
  auto calls = std::make_shared<Calls>();
  auto worker = start(worker_config("w1", node->address(), {lookup_tool("w1", calls, nullptr)}));
  ASSERT_TRUE(worker && sees(*node, "w1", MemberState::up));
  worker.reset();
  EXPECT_TRUE(sees(*node, "w1", MemberState::down));
  EXPECT_FALSE(node->tool("lookup"));
}

TEST(ClusterNode, ANameAlreadyUpElsewhereIsRefused) {
  auto a = start(node_config("a"));
  ASSERT_TRUE(a);
  auto b = start(node_config("b", {a->address()}));
  ASSERT_TRUE(b && sees(*a, "b", MemberState::up));
  auto twin = cluster::Node::start(node_config("b", {a->address()}));
  ASSERT_FALSE(twin);
  EXPECT_NE(twin.error().message.find("already up"), std::string::npos) << twin.error().message;
}

// The Supervisor topology across three nodes: a supervisor agent on one node delegates to worker
// agents that two other nodes serve (each agent served as a tool, Workflow::as_tool).
TEST(ClusterNode, ASupervisorOnOneNodeDelegatesToAgentsServedByTwoOthers) {
  auto served_agent = [](const std::string& name, const std::string& answer) {
    auto model = providers::scripted({{.text = answer}});
    auto agent = Agent::create({.name = name, .instructions = "You handle " + name + ".", .model = model}).value();
    auto workflow = Workflow::chain(name, {loomflow::Node::agent(agent)}).value();
    return std::make_pair(workflow.as_tool(name, "Hands a question to the " + name + " agent."), model);
  };
  auto supervisor_node = start(node_config("supervisor"));
  ASSERT_TRUE(supervisor_node);
  auto [billing_tool, billing_model] = served_agent("billing", "refund issued");
  auto billing_config = node_config("billing-node", {supervisor_node->address()});
  billing_config.tools = {billing_tool};
  auto billing_node = start(std::move(billing_config));
  auto [tech_tool, tech_model] = served_agent("tech", "router rebooted");
  auto tech_config = node_config("tech-node", {supervisor_node->address()});
  tech_config.tools = {tech_tool};
  auto tech_node = start(std::move(tech_config));
  ASSERT_TRUE(billing_node && tech_node && sees(*supervisor_node, "billing-node", MemberState::up) &&
              sees(*supervisor_node, "tech-node", MemberState::up));

  auto billing = supervisor_node->tool("billing");
  auto tech = supervisor_node->tool("tech");
  ASSERT_TRUE(billing && tech);
  auto model = providers::scripted({{.tool_calls = {{"c1", "billing", R"({"input":"charged twice"})"},
                                                    {"c2", "tech", R"({"input":"no internet"})"}}},
                                    {.text = "Both handled.", .expect = "router rebooted"}});
  auto supervisor =
      Agent::create({.name = "supervisor", .model = model, .tools = {*billing, *tech}}).value();
  auto result = supervisor_node->runtime().run(supervisor, "I was charged twice and my internet is down.");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->output, "Both handled.");
  std::vector<std::string> tool_answers;
  for (const auto& m : result->messages)
    if (m.role == Role::tool) tool_answers.push_back(m.content);
  EXPECT_EQ(tool_answers, (std::vector<std::string>{"refund issued", "router rebooted"}));
  // The delegated agents ran on their own nodes, and their steps come back in the trace.
  auto* billing_script = dynamic_cast<providers::ScriptedProvider*>(billing_model.provider.get());
  auto* tech_script = dynamic_cast<providers::ScriptedProvider*>(tech_model.provider.get());
  ASSERT_TRUE(billing_script && tech_script);
  EXPECT_EQ(billing_script->calls(), 1u);
  EXPECT_EQ(tech_script->calls(), 1u);
  bool nested = false;
  for (const auto& step : result->trace) nested = nested || step.step_name == "supervisor/turn-1/tool-0/billing#1/turn-1/model";
  EXPECT_TRUE(nested) << "no nested step of the billing agent in the trace";
  EXPECT_EQ(result->usage.model_calls, 4u);
}

// A process that connects to a member's port without the join handshake (CAF's plain remote_actor)
// can reach its member actor, but every tool call and run it asks for is refused.
TEST(ClusterNode, APeerThatSkippedTheHandshakeIsRefusedToolCallsAndRuns) {
  auto config = node_config("worker");
  config.role = MemberRole::worker;
  auto calls = std::make_shared<Calls>();
  config.tools = {lookup_tool("worker", calls, nullptr)};
  config.agents.emplace("greeter", Agent::create({.name = "greeter", .model = providers::echo()}).value());
  auto worker = start(std::move(config));
  ASSERT_TRUE(worker);
  auto port = cluster::parse_address(worker->address(), "address").value().second;

  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.load<caf::io::middleman>();
  cluster::register_cluster_types(cfg);
  actors::register_message_types(cfg);
  caf::actor_system system(cfg);
  auto gate = system.middleman().remote_actor<caf::actor>("127.0.0.1", port);  // untyped: no interface check
  ASSERT_TRUE(gate) << system.render(gate.error());
  caf::scoped_actor self(system);
  actors::tool_invocation inv;
  inv.ctx.session_id = SessionId{"s-intruder"};
  inv.step = "x/turn-1/tool-0";
  inv.call = ToolCall{"c1", "lookup", R"({"order":1})"};
  self->request(*gate, kWait, inv)
      .receive([](actors::tool_result& r) { EXPECT_EQ(r.content, "error: refused: the caller has not joined the cluster"); },
               [](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
  cluster::remote_run run{"greeter", "hi", UserId{"mallory"}, SessionId{"s-intruder"}, {}, {}};
  self->request(*gate, kWait, run)
      .receive([](actors::node_result& r) { EXPECT_EQ(r.error.code, ErrorCode::permission_denied); },
               [](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
  EXPECT_TRUE(calls->all().empty());  // the tool never ran
}
