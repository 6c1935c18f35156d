// bench/workload_tools.cpp — tool dispatch (issue: tools).
//
// T1: the in-process cost of one tool call. A scripted model asks, in one turn, for 1,000 calls of
//     `noop {"i": k}`; the runtime validates each call's arguments against the schema, runs each in
//     its own actor, and feeds the 1,000 results back in call order. us_per_call = run time / 1,000.
//     Reported for a non-blocking tool (scheduled actors) and a blocking one (detached actors:
//     one thread each), the first being the headline.
// T2: one turn of 100 parallel calls of a tool that blocks for 20 ms (as an I/O-bound tool does).
//     Run serially that is 2,000 ms; us_per_turn is the whole turn, parallel_speedup = 2,000 ms /
//     the turn.
#include <thread>

#include "bench/bench.hpp"

namespace loomflow::cli::bench {
namespace {

constexpr std::size_t kT1Calls = 1000;
constexpr std::size_t kT2Calls = 100;
constexpr auto kT2Wait = std::chrono::milliseconds(20);
constexpr const char* kSchema = R"({"type":"object","properties":{"i":{"type":"integer"}},"required":["i"]})";

// Turn 1: `calls` calls of `tool`; turn 2: the final answer once every result is in.
class FanOutModel final : public Provider {
 public:
  FanOutModel(std::string tool, std::size_t calls) : tool_(std::move(tool)), calls_(calls) {}
  std::string_view name() const noexcept override { return "bench-fan-out"; }
  Expected<ModelResponse> complete(const ModelRequest& request) override {
    ModelResponse response;
    if (request.messages.size() == 1) {
      std::vector<ToolCall> calls;
      calls.reserve(calls_);
      for (std::size_t k = 0; k < calls_; ++k) {
        const std::string i = std::to_string(k);
        calls.push_back(ToolCall{"call_" + i, tool_, "{\"i\":" + i + "}"});
      }
      response.message = Message::assistant("", std::move(calls));
    } else {
      response.message = Message::assistant("done");
    }
    return response;
  }

 private:
  std::string tool_;
  std::size_t calls_;
};

Expected<std::string> echo_i(const ToolContext&, std::string_view arguments) {
  auto args = nlohmann::json::parse(arguments, nullptr, false);
  if (args.is_discarded() || !args.contains("i")) return Error{ErrorCode::tool_error, "no i"};
  return "ok " + std::to_string(args["i"].get<long long>());
}

Expected<Agent> fan_out_agent(const std::string& name, std::size_t calls, ToolOptions options, ToolFn fn) {
  auto tool = Tool::function("work", "Works on i.", kSchema, std::move(fn), options);
  if (!tool) return tool.error();
  AgentOptions agent;
  agent.name = name;
  agent.model = Model{std::make_shared<FanOutModel>("work", calls), "scripted"};
  agent.tools = {*tool};
  agent.max_turns = 3;
  return Agent::create(std::move(agent));
}

// Empty when the run answered "done" after `calls` results, each "ok <k>" in call order.
std::string verify(const Expected<RunResult>& result, std::size_t calls) {
  if (auto problem = check_output(result, "done"); !problem.empty()) return problem;
  if (result->usage.tool_calls != calls || result->usage.tool_errors != 0)
    return "tool_calls " + std::to_string(result->usage.tool_calls) + ", tool_errors " +
           std::to_string(result->usage.tool_errors);
  if (result->messages.size() != calls + 3) return std::to_string(result->messages.size()) + " messages";
  for (std::size_t k = 0; k < calls; ++k)
    if (result->messages[2 + k].content != "ok " + std::to_string(k) ||
        result->messages[2 + k].tool_call_id != "call_" + std::to_string(k))
      return "result " + std::to_string(k) + " is '" + result->messages[2 + k].content + "'";
  return {};
}

}  // namespace

Json run_t1(const BenchArgs& args) {
  Runtime runtime(RuntimeConfig{args.threads});
  auto scheduled = fan_out_agent("t1_scheduled", kT1Calls, ToolOptions{}, echo_i);
  auto detached = fan_out_agent("t1_detached", kT1Calls, ToolOptions{.blocking = true}, echo_i);
  if (!scheduled || !detached) return error_line("T1", "building the agents failed");
  runtime.prepare(*scheduled);
  runtime.prepare(*detached);
  const TimedRuns runs = time_runs([&] { return runtime.run(*scheduled, "go"); });
  const TimedRuns blocking_runs = time_runs([&] { return runtime.run(*detached, "go"); });
  for (const auto* set : {&runs, &blocking_runs})
    for (std::size_t i = 0; i < set->results.size(); ++i)
      if (auto problem = verify(set->results[i], kT1Calls); !problem.empty())
        return error_line("T1", "verification failed (run " + std::to_string(i + 1) + "): " + problem);

  Json line = header("T1", "one-turn-1000-calls", Json{{"calls", kT1Calls}}, runtime.worker_threads());
  line["total_ms"] = round3(runs.first.wall_ms);
  line["cpu_ms"] = round3(runs.first.cpu_ms);
  line["us_per_call"] = round3(runs.first.wall_ms * 1000.0 / kT1Calls);
  line["warm_us_per_call"] = round3(runs.warm.wall_ms * 1000.0 / kT1Calls);
  line["blocking_us_per_call"] = round3(blocking_runs.first.wall_ms * 1000.0 / kT1Calls);
  line["warm_blocking_us_per_call"] = round3(blocking_runs.warm.wall_ms * 1000.0 / kT1Calls);
  line["target"] = "us_per_call <= 10";
  line["target_met"] = line["us_per_call"].get<double>() <= 10.0;
  line["note"] =
      "per call: argument validation against the schema, one actor per call, results gathered in call order "
      "and appended to the conversation; blocking_* runs each call on a detached actor (its own thread)";
  return line;
}

Json run_t2(const BenchArgs& args) {
  Runtime runtime(RuntimeConfig{args.threads});
  auto agent = fan_out_agent("t2_io", kT2Calls, ToolOptions{.blocking = true},
                             [](const ToolContext& ctx, std::string_view arguments) -> Expected<std::string> {
                               std::this_thread::sleep_for(kT2Wait);  // an I/O-bound tool waiting on its peer
                               return echo_i(ctx, arguments);
                             });
  if (!agent) return error_line("T2", "building the agent failed: " + agent.error().describe());
  runtime.prepare(*agent);
  const TimedRuns runs = time_runs([&] { return runtime.run(*agent, "go"); });
  for (std::size_t i = 0; i < runs.results.size(); ++i)
    if (auto problem = verify(runs.results[i], kT2Calls); !problem.empty())
      return error_line("T2", "verification failed (run " + std::to_string(i + 1) + "): " + problem);
  const double serial_ms = static_cast<double>(kT2Calls * kT2Wait.count());
  Json line = header("T2", "100-parallel-calls-20ms", Json{{"calls", kT2Calls}, {"tool_wait_ms", kT2Wait.count()}},
                     runtime.worker_threads());
  line["total_ms"] = round3(runs.first.wall_ms);
  line["cpu_ms"] = round3(runs.first.cpu_ms);
  line["us_per_turn"] = round3(runs.first.wall_ms * 1000.0);
  line["warm_us_per_turn"] = round3(runs.warm.wall_ms * 1000.0);
  line["parallel_speedup"] = round3(serial_ms / runs.first.wall_ms);
  line["target"] = "us_per_turn <= 40000 (100 calls of 20 ms overlap)";
  line["target_met"] = line["us_per_turn"].get<double>() <= 40000.0;
  return line;
}

}  // namespace loomflow::cli::bench
