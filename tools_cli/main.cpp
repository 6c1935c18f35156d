// The `loomflow` program: run and draw declarative specs, and benchmark the runtime.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace loomflow::cli;
  CLI::App app{"loomflow — LLM agents and workflows on the actor model"};
  app.set_version_flag("--version", std::string("loomflow ") + LOOMFLOW_VERSION);
  app.require_subcommand(1);

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "Run the workflow of a JSON spec on an input");
  run_cmd->add_option("spec", run.spec, "Path of the JSON spec")->required();
  run_cmd->add_option("--input,-i", run.input, "The input text")->required();
  run_cmd->add_option("--user", run.user, "The user the run is for (default: anonymous)");
  run_cmd->add_option("--session", run.session, "The session id (default: a fresh one)");
  run_cmd->add_flag("--json", run.json, "Print one JSON object: output, visited, usage, user_id, session_id, trace");
  run_cmd->add_option("--timeout-ms", run.timeout_ms, "Fail the run after this many milliseconds (default: none)");
  run_cmd->add_option("--threads", run.threads, "Scheduler threads (default: one per core)");
  run_cmd->add_option("--prices", run.prices, "A JSON price table (USD per million tokens) over the defaults");

  std::string graph_spec;
  auto* graph_cmd = app.add_subcommand("graph", "Print the workflow of a JSON spec as a Mermaid flowchart");
  graph_cmd->add_option("spec", graph_spec, "Path of the JSON spec")->required();

  AskArgs ask;
  auto* ask_cmd = app.add_subcommand("ask", "Ask one model one question (echo, openai:…, anthropic:…, compat:…, gpt-…, claude-…)");
  ask_cmd->add_option("model", ask.model, "The model, e.g. gpt-4.1-mini, claude-haiku-4-5, compat:llama3.1, echo")->required();
  ask_cmd->add_option("prompt", ask.prompt, "The question")->required();
  ask_cmd->add_option("--system", ask.system, "A system message");
  ask_cmd->add_flag("--stream", ask.stream, "Stream the answer and print it as it arrives");
  ask_cmd->add_flag("--json", ask.json, "Print one JSON object: output and usage");
  ask_cmd->add_option("--schema", ask.schema, "A JSON Schema file the answer must match (structured output)");
  ask_cmd->add_option("--prices", ask.prices, "A JSON price table (USD per million tokens) over the defaults");

  BenchArgs bench;
  auto* bench_cmd = app.add_subcommand("bench", "Run the benchmark workloads W1 W2 W3 W5 W6 (one JSON line each)");
  bench_cmd->add_option("--workload,-w", bench.workload, "Only this workload (W1, W1-200nodes, W2, W3, W5, W6)");
  bench_cmd->add_flag("--json", bench.json, "Print JSON lines only (default: JSON lines and a summary)");
  bench_cmd->add_option("--threads", bench.threads, "Scheduler threads (default: one per core)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // usage errors share the bad-input status
  }

  if (*run_cmd) return run_command(run);
  if (*graph_cmd) return graph_command(graph_spec);
  if (*ask_cmd) return ask_command(ask);
  if (*bench_cmd) return bench_command(bench);
  return 2;
}
