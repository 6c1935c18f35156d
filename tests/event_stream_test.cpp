// Runtime::stream: the events of agent and workflow runs as they happen — order, paths of nested
// agents and sub-workflows, tool calls, structured output, errors — and backpressure from a slow
// consumer all the way to the model's HTTP stream.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/http_model.hpp"
#include "long_stream_server.hpp"
#include "test_support.hpp"

using namespace loomflow;
using loomflow::testing::LongStreamServer;
using loomflow::testing::rss_kib;
using loomflow::testing::shared_runtime;

namespace {

std::vector<RunEvent> drain(EventStream& stream) {
  std::vector<RunEvent> events;
  while (auto event = stream.next()) events.push_back(std::move(*event));
  return events;
}

std::vector<std::string> kinds(const std::vector<RunEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.emplace_back(to_string(e.kind));
  return out;
}

std::vector<std::string> described(const std::vector<RunEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(std::string(to_string(e.kind)) + " " + e.path + " " + e.name);
  return out;
}

Tool add_tool() {
  return Tool::function("add", "Adds a and b.", R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})",
                        [](const ToolContext&, std::string_view args) -> Expected<std::string> {
                          auto j = nlohmann::json::parse(args);
                          return std::to_string(j["a"].get<int>() + j["b"].get<int>());
                        })
      .value();
}

}  // namespace

TEST(EventStream, AnAgentRunReportsStartTextAndFinishInOrder) {
  auto agent = Agent::create({.name = "parrot", .model = providers::echo()}).value();
  auto stream = shared_runtime().stream(agent, "hello");
  auto events = drain(stream);
  EXPECT_EQ(kinds(events), (std::vector<std::string>{"run_started", "text_delta", "run_finished"}));
  for (std::size_t k = 0; k < events.size(); ++k) EXPECT_EQ(events[k].seq, k + 1);
  EXPECT_EQ(events[1].text, "hello");
  EXPECT_EQ(events[1].path, "parrot/turn-1/model");
  EXPECT_EQ(events[2].text, "hello");
  EXPECT_TRUE(events[2].ok);
  EXPECT_EQ(events[2].usage.model_calls, 1u);
  EXPECT_TRUE(stream.ended());
  EXPECT_FALSE(stream.next());
  auto result = stream.run().wait();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->output, "hello");
}

TEST(EventStream, ToolCallsAreReportedWithTheirArgumentsAndResults) {
  auto model = providers::scripted({{.tool_calls = {{"c1", "add", R"({"a":2,"b":3})"}, {"c2", "nope", "{}"}}},
                                    {.text = "5"}});
  auto agent = Agent::create({.name = "calc", .model = model, .tools = {add_tool()}}).value();
  auto events = [&] {
    auto stream = shared_runtime().stream(agent, "2+3?");
    return drain(stream);
  }();
  std::vector<RunEvent> started, finished;
  for (const auto& e : events) {
    if (e.kind == EventKind::tool_call_started) started.push_back(e);
    if (e.kind == EventKind::tool_call_finished) finished.push_back(e);
  }
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0].path, "calc/turn-1/tool-0");
  EXPECT_EQ(started[0].call_id, "c1");
  EXPECT_EQ(nlohmann::json::parse(started[0].data), nlohmann::json::parse(R"({"a":2,"b":3})"));
  ASSERT_EQ(finished.size(), 2u);
  const auto& add = finished[0].call_id == "c1" ? finished[0] : finished[1];
  const auto& unknown = finished[0].call_id == "c1" ? finished[1] : finished[0];
  EXPECT_TRUE(add.ok);
  EXPECT_EQ(add.text, "5");
  EXPECT_FALSE(unknown.ok);
  EXPECT_NE(unknown.text.find("unknown tool 'nope'"), std::string::npos);
  EXPECT_EQ(events.back().kind, EventKind::run_finished);
  EXPECT_EQ(events.back().text, "5");
}

TEST(EventStream, AWorkflowReportsEachNodeEnteredAndLeftWithItsOutput) {
  auto agent = Agent::create({.name = "parrot", .model = providers::echo()}).value();
  auto wf = Workflow::chain("pipeline", {loomflow::testing::append("shout", "!"), Node::agent(agent)}).value();
  auto stream = shared_runtime().stream(wf, "hi");
  auto events = drain(stream);
  EXPECT_EQ(described(events),
            (std::vector<std::string>{"run_started  pipeline", "node_entered shout#1 shout", "node_left shout#1 shout",
                                      "node_entered parrot#1 parrot", "text_delta parrot#1/turn-1/model parrot",
                                      "node_left parrot#1 parrot", "run_finished  pipeline"}));
  EXPECT_EQ(events[2].text, "hi!");
  EXPECT_EQ(events[5].text, "hi!");
  EXPECT_EQ(events[5].usage.model_calls, 1u);
  EXPECT_EQ(events.back().text, "hi!");
}

TEST(EventStream, EventsOfAWorkflowCalledAsAToolBubbleUpUnderTheToolStep) {
  auto inner_agent = Agent::create({.name = "inner", .model = providers::echo()}).value();
  auto inner = Workflow::chain("research", {loomflow::testing::append("prep", "?"), Node::agent(inner_agent)}).value();
  auto model = providers::scripted({{.tool_calls = {{"c1", "research", R"({"input":"cats"})"}}}, {.text = "done"}});
  auto outer = Agent::create({.name = "lead", .model = model, .tools = {inner.as_tool("research", "Researches.")}}).value();
  auto stream = shared_runtime().stream(outer, "go");
  auto events = drain(stream);
  std::vector<std::string> nested;
  for (const auto& e : events)
    if (e.path.rfind("lead/turn-1/tool-0/", 0) == 0) nested.push_back(std::string(to_string(e.kind)) + " " + e.path);
  EXPECT_EQ(nested, (std::vector<std::string>{
                        "node_entered lead/turn-1/tool-0/prep#1",
                        "node_left lead/turn-1/tool-0/prep#1",
                        "node_entered lead/turn-1/tool-0/inner#1",
                        "text_delta lead/turn-1/tool-0/inner#1/turn-1/model",
                        "node_left lead/turn-1/tool-0/inner#1",
                    }));
  EXPECT_EQ(events.back().text, "done");
}

TEST(EventStream, ParallelBranchesAreReportedEachUnderItsOwnStep) {
  auto wf = Workflow::parallel("fan", {loomflow::testing::append("a", "A"), loomflow::testing::append("b", "B")}, loomflow::testing::append("join", "J"))
                .value();
  auto stream = shared_runtime().stream(wf, "x");
  auto events = drain(stream);
  std::multiset<std::string> seen;
  for (const auto& e : events)
    if (e.kind == EventKind::node_left) seen.insert(e.name);
  EXPECT_EQ(seen, (std::multiset<std::string>{"a", "b", "join"}));
}

TEST(EventStream, AStructuredAnswerIsReportedAsStructuredOutput) {
  auto model = providers::scripted({{.text = R"({"label":"billing"})"}});
  auto agent = Agent::create({.name = "classify",
                              .model = model,
                              .output_schema = R"({"type":"object","properties":{"label":{"type":"string"}},"required":["label"]})"})
                   .value();
  auto stream = shared_runtime().stream(agent, "card charged twice");
  auto events = drain(stream);
  ASSERT_GE(events.size(), 2u);
  const auto& structured = events[events.size() - 2];
  EXPECT_EQ(structured.kind, EventKind::structured_output);
  EXPECT_EQ(nlohmann::json::parse(structured.data)["label"], "billing");
  EXPECT_NE(to_json(structured).find(R"("output":{"label":"billing"})"), std::string::npos);
}

TEST(EventStream, AFailedRunEndsWithAnErrorThenRunFinishedNotOk) {
  auto model = providers::scripted({});  // exhausted at the first call
  auto agent = Agent::create({.name = "broken", .model = model}).value();
  auto stream = shared_runtime().stream(agent, "hi");
  auto events = drain(stream);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[events.size() - 2].kind, EventKind::error);
  EXPECT_NE(events[events.size() - 2].text.find("agent 'broken'"), std::string::npos);
  EXPECT_NE(events[events.size() - 2].data.find("script_exhausted"), std::string::npos);
  EXPECT_EQ(events.back().kind, EventKind::run_finished);
  EXPECT_FALSE(events.back().ok);
  EXPECT_FALSE(stream.run().wait());
}

TEST(EventStream, EventsSerialiseToOneJsonObjectEach) {
  RunEvent e;
  e.kind = EventKind::tool_call_started;
  e.seq = 7;
  e.path = "a/turn-1/tool-0";
  e.name = "add";
  e.call_id = "c1";
  e.data = R"({"a":1})";
  EXPECT_EQ(to_json(e),
            R"({"seq":7,"type":"tool_call_started","path":"a/turn-1/tool-0","name":"add","call_id":"c1","arguments":{"a":1}})");
}

TEST(EventStream, AStreamingProviderDeliversTextAsManyDeltasThatAddUpToTheAnswer) {
  LongStreamServer server(50, 8);
  auto agent = Agent::create({.name = "talker", .model = server.model()}).value();
  auto stream = shared_runtime().stream(agent, "talk");
  std::string text;
  std::size_t deltas = 0;
  while (auto e = stream.next())
    if (e->kind == EventKind::text_delta) {
      text += e->text;
      ++deltas;
    }
  std::string expected;
  for (std::size_t k = 0; k < 50; ++k) expected += server.delta(k);
  EXPECT_EQ(deltas, 50u);
  EXPECT_EQ(text, expected);
  auto result = stream.run().wait();
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, expected);
}

// 40,000 deltas of 1 KiB (~48 MB on the wire) read by a consumer far slower than loopback: the
// producer runs ahead until the buffer is full and is then held back — the buffer never holds more
// than its capacity plus what one socket read carries, memory grows only by the text consumed so far
// (the answer being assembled), and every byte arrives in order.
TEST(EventStream, ASlowConsumerHoldsTheModelStreamBackWithoutLosingAnything) {
  constexpr std::size_t kDeltas = 40'000, kBytes = 1024, kCapacity = 64;
  LongStreamServer server(kDeltas, kBytes);
  auto agent = Agent::create({.name = "talker", .model = server.model()}).value();
  const long rss_before = rss_kib();
  auto stream = shared_runtime().stream(agent, "talk", {}, {.buffer_events = kCapacity});
  std::size_t k = 0, max_buffered = 0, mismatches = 0;
  long worst_excess_kib = -1'000'000;
  while (auto e = stream.next()) {
    max_buffered = std::max(max_buffered, stream.buffered());
    if (e->kind != EventKind::text_delta) continue;
    if (e->text != server.delta(k)) ++mismatches;
    ++k;
    if (k % 50 == 0) {
      // Allowed: the text consumed so far, twice (the answer grows by doubling), plus 16 MiB.
      const long excess = (rss_kib() - rss_before) - (2 * static_cast<long>(k * kBytes / 1024) + 16 * 1024);
      worst_excess_kib = std::max(worst_excess_kib, excess);
      // The slow part (~25 MB/s): without backpressure the whole stream would pile up in memory.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  EXPECT_EQ(k, kDeltas);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GE(max_buffered, kCapacity / 2) << "the consumer was never the slower side";
  // A paused transfer can still hand over one socket read (libcurl's 16 KiB buffer) of events.
  EXPECT_LE(max_buffered, kCapacity + 16 * 1024 / kBytes + 2);
  EXPECT_LE(worst_excess_kib, 0) << "memory grew beyond the text consumed by " << worst_excess_kib << " KiB";
  ASSERT_TRUE(stream.run().wait());
}

TEST(EventStream, DroppingAStreamCancelsItsRun) {
  LongStreamServer server(1'000'000, 64);
  auto agent = Agent::create({.name = "talker", .model = server.model()}).value();
  std::optional<RunHandle> run;
  {
    auto stream = shared_runtime().stream(agent, "talk", {}, {.buffer_events = 8});
    run = stream.run();
    ASSERT_TRUE(stream.next());  // run_started: the run is under way
  }
  auto result = run->wait();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::cancelled);
}

TEST(EventStream, ADetachedStreamLetsItsRunFinishInTheBackground) {
  LongStreamServer server(2'000, 64);
  auto agent = Agent::create({.name = "talker", .model = server.model()}).value();
  std::optional<RunHandle> run;
  {
    auto stream = shared_runtime().stream(agent, "talk", {}, {.buffer_events = 4, .on_abandon = StreamOptions::OnAbandon::detach});
    run = stream.run();
  }
  auto result = run->wait();
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output.size(), 2'000u * 64u);
}
