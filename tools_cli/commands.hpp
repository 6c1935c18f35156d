// commands.hpp — the subcommands of the `loomflow` program. Each returns the process exit status:
// 0 success, 1 the run failed, 2 bad usage or a bad spec.
#pragma once

#include <string>

#include "loomflow/spec.hpp"

namespace loomflow::cli {

struct RunArgs {
  std::string spec;
  std::string input;
  std::string user = "anonymous";
  std::string session;
  bool json = false;
  long timeout_ms = 0;
  std::size_t threads = 0;
};

struct AskArgs {
  std::string model;
  std::string prompt;
  std::string system;
  std::string schema;  // path of a JSON Schema file for the answer
  bool stream = false;
  bool json = false;
};

struct BenchArgs {
  std::string workload;  // empty: all
  bool json = false;
  std::size_t threads = 0;
};

// What specs run by the CLI may name: the built-in models, functions and tools.
SpecEnvironment cli_environment();

int run_command(const RunArgs& args);
int graph_command(const std::string& spec);
int ask_command(const AskArgs& args);
int bench_command(const BenchArgs& args);

}  // namespace loomflow::cli
