// bench/workloads_agent.cpp — W5 of shared/bench/WORKLOADS.md: an agent loop against a scripted model.
//
// The model is a Provider (the runtime's own model interface) that answers instantly: 50 turns with
// one `noop` tool call each, then "final answer". All that is measured is the framework's work per
// turn: the model and tool actors, the conversation it keeps and re-sends, and the run bookkeeping.
#include <algorithm>

#include "bench/bench.hpp"

namespace loomflow::cli::bench {

namespace {

constexpr std::size_t kToolRounds = 50;
constexpr std::size_t kModelCalls = kToolRounds + 1;
// user "go" + (assistant tool call + tool result) per round + the final answer; no system message
// because the agent has no instructions.
constexpr std::size_t kFinalMessages = 1 + 2 * kToolRounds + 1;

// The scripted model: its k-th call (k = tool results so far) asks for noop {"i": k}, until k = 50.
class ScriptedModel final : public Provider {
 public:
  std::string_view name() const noexcept override { return "bench-scripted"; }

  Expected<ModelResponse> complete(const ModelRequest& request) override {
    const auto k = static_cast<std::size_t>(std::count_if(request.messages.begin(), request.messages.end(),
                                                          [](const Message& m) { return m.role == Role::tool; }));
    // The runtime must pass the whole history: the user message and two messages per finished round.
    if (request.messages.size() != 1 + 2 * k)
      return Error{ErrorCode::script_mismatch, "bench-scripted: expected " + std::to_string(1 + 2 * k) +
                                                   " messages, got " + std::to_string(request.messages.size())};
    if (k > kToolRounds) return Error{ErrorCode::script_exhausted, "bench-scripted: called after the final answer"};
    ModelResponse response;
    if (k < kToolRounds) {
      const std::string i = std::to_string(k);
      response.message = Message::assistant("", {ToolCall{"call_" + i, "noop", "{\"i\":" + i + "}"}});
    } else {
      response.message = Message::assistant("final answer");
    }
    return response;
  }
};

// noop {i: number} -> "ok <i>". Loomflow hands tools the model's raw argument text; checking it is
// the tool's job, so this one parses and checks it as any real tool would.
Expected<std::string> noop(const ToolContext&, std::string_view arguments) {
  auto args = nlohmann::json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object() || !args.contains("i") || !args["i"].is_number())
    return Error{ErrorCode::tool_error, "noop expects {\"i\": number}, got " + std::string(arguments)};
  return "ok " + std::to_string(args["i"].get<long long>());
}

// Empty when a run did exactly what the script says.
std::string verify(const Expected<RunResult>& result) {
  if (auto problem = check_output(result, "final answer"); !problem.empty()) return problem;
  const auto& usage = result->usage;
  if (usage.model_calls != kModelCalls || usage.tool_calls != kToolRounds || usage.tool_errors != 0)
    return "model_calls " + std::to_string(usage.model_calls) + ", tool_calls " + std::to_string(usage.tool_calls) +
           ", tool_errors " + std::to_string(usage.tool_errors) + "; expected 51, 50, 0";
  const auto& messages = result->messages;
  if (messages.size() != kFinalMessages)
    return std::to_string(messages.size()) + " messages, expected " + std::to_string(kFinalMessages);
  for (std::size_t k = 0; k < kToolRounds; ++k) {
    const auto& call = messages[1 + 2 * k];
    const auto& answer = messages[2 + 2 * k];
    const std::string id = "call_" + std::to_string(k);
    if (call.tool_calls.size() != 1 || call.tool_calls[0].id != id || answer.role != Role::tool ||
        answer.tool_call_id != id || answer.content != "ok " + std::to_string(k))
      return "round " + std::to_string(k) + " is not call " + id + " answered by 'ok " + std::to_string(k) + "'";
  }
  return {};
}

}  // namespace

Json run_w5(const BenchArgs& args) {
  Runtime runtime(RuntimeConfig{args.threads});
  Expected<Agent> agent = Error{ErrorCode::internal, "not built"};
  const Sample build = measure([&] {
    auto tool = Tool::function("noop", "Does nothing; returns ok <i>.",
                               R"({"type":"object","properties":{"i":{"type":"number"}},"required":["i"]})", noop);
    if (!tool) {
      agent = tool.error();
      return;
    }
    AgentOptions options;
    options.name = "w5_agent";
    options.model = Model{std::make_shared<ScriptedModel>(), "scripted"};
    options.tools = {*tool};
    options.max_turns = 60;
    agent = Agent::create(std::move(options));
    if (agent) runtime.prepare(*agent);
  });
  if (!agent) return error_line("W5", "building the agent failed: " + agent.error().describe());

  const TimedRuns runs = time_runs([&] { return runtime.run(*agent, "go"); });

  for (std::size_t i = 0; i < runs.results.size(); ++i)
    if (auto problem = verify(runs.results[i]); !problem.empty())
      return error_line("W5", "verification failed (run " + std::to_string(i + 1) + "): " + problem);

  Json line = header("W5", "actors-scripted-provider",
                     Json{{"tool_rounds", kToolRounds}, {"model_calls", kModelCalls}}, runtime.worker_threads());
  line["build_compile_ms"] = round3(build.wall_ms);
  line["total_ms"] = round3(runs.first.wall_ms);
  line["cpu_ms"] = round3(runs.first.cpu_ms);
  line["us_per_turn"] = round3(runs.first.wall_ms * 1000.0 / kModelCalls);
  line["warm_total_ms"] = round3(runs.warm.wall_ms);
  line["warm_cpu_ms"] = round3(runs.warm.cpu_ms);
  line["warm_us_per_turn"] = round3(runs.warm.wall_ms * 1000.0 / kModelCalls);
  line["messages"] = runs.results.front()->messages.size();
  line["target"] = "us_per_turn <= 10";
  line["target_met"] = line["us_per_turn"].get<double>() <= 10.0;
  line["note"] =
      "the scripted model and the noop tool cost well under a microsecond, so us_per_turn is framework "
      "overhead, including the check of each call's arguments against the tool's schema. "
      "build_compile_ms includes Runtime::prepare() (spawning the model and tool actors).";
  return line;
}

}  // namespace loomflow::cli::bench
