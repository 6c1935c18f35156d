// bench/bench.hpp — what the `loomflow bench` workloads share: timing, memory probes, the JSON line
// every workload prints, and the workload entry points. The workloads are defined, language-neutrally,
// in shared/bench/WORKLOADS.md; each returns its JSON line, or one with an "error" field.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow::cli::bench {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Further runs after the primary (first) one; their median is reported as `warm_*`.
inline constexpr int kWarmRuns = 5;

// Wall and process CPU time (all threads, user + system) of one timed region, in milliseconds.
struct Sample {
  double wall_ms = 0;
  double cpu_ms = 0;
};

double process_cpu_ms();                      // getrusage(RUSAGE_SELF): user + system
double ms_between(Clock::time_point from, Clock::time_point to);
double median(std::vector<double> values);
double percentile(std::vector<double> values, double p);  // p in [0, 1], nearest rank
double round3(double value);                  // keeps the JSON lines readable
std::size_t rss_bytes();                      // current resident set, from /proc/self/statm
std::size_t heap_bytes();                     // malloc's bytes in use, all arenas (mallinfo2)
double maxrss_mb();                           // peak resident set of the process so far (getrusage)

// Times `region`. The CPU clock is read outside the wall-clock pair so its syscalls are not timed.
template <class F>
Sample measure(F&& region) {
  const double cpu0 = process_cpu_ms();
  const auto t0 = Clock::now();
  region();
  const auto t1 = Clock::now();
  const double cpu1 = process_cpu_ms();
  return Sample{ms_between(t0, t1), cpu1 - cpu0};
}

// A workload that is one run: the primary sample, then kWarmRuns more on the same definition.
// Results are kept so they are verified after timing, not inside it.
struct TimedRuns {
  Sample first;
  Sample warm;  // medians of the further runs
  std::vector<Expected<RunResult>> results;  // first, then the warm runs
};

template <class Run>
TimedRuns time_runs(Run&& run) {
  TimedRuns out;
  out.results.reserve(1 + kWarmRuns);
  out.first = measure([&] { out.results.push_back(run()); });
  std::vector<double> wall, cpu;
  for (int i = 0; i < kWarmRuns; ++i) {
    auto s = measure([&] { out.results.push_back(run()); });
    wall.push_back(s.wall_ms);
    cpu.push_back(s.cpu_ms);
  }
  out.warm = Sample{median(wall), median(cpu)};
  return out;
}

// The fields every workload line starts with.
Json header(const std::string& workload, const std::string& variant, Json params, std::size_t threads);
// The line of a workload that failed (error or failed verification).
Json error_line(const std::string& workload, const std::string& message);
// Empty when `result` succeeded with output `expected`; otherwise what went wrong.
std::string check_output(const Expected<RunResult>& result, const std::string& expected);

// The W1 state model: a trivial node {counter} -> {counter + 1}, and the chain of N of them.
Expected<std::string> increment(const NodeContext& ctx);
Expected<Workflow> build_chain(const std::string& name, std::size_t n);

// Graph workloads (workloads_graph.cpp).
Json run_w1(const BenchArgs& args, std::size_t nodes, const std::string& workload);
Json run_w2(const BenchArgs& args);
Json run_w3(const BenchArgs& args);
Json run_w6(const BenchArgs& args);
// The memory of suspended runs, for W6 (workload_idle.cpp): idle_run_heap_bytes and friends.
Json measure_idle_runs(const BenchArgs& args, std::size_t runs);
// Agent workload (workloads_agent.cpp).
Json run_w5(const BenchArgs& args);
// The durable chain, on the journal of --journal (workload_journal.cpp).
Json run_w4(const BenchArgs& args);
// Provider overhead on loopback HTTP (workload_provider.cpp).
Json run_p1(const BenchArgs& args);
// Tools: in-process dispatch overhead per call (T1), one turn of 100 parallel calls (T2)
// (workload_tools.cpp); an MCP stdio round trip against server-everything (T3, workload_mcp.cpp);
// retrieval latency over 100k vectors (T4, workload_retrieval.cpp).
Json run_t1(const BenchArgs& args);
Json run_t2(const BenchArgs& args);
Json run_t3(const BenchArgs& args);
Json run_t4(const BenchArgs& args);
// `loomflow serve` on loopback (workload_serve.cpp): SSE relay overhead per event (S1), memory per
// stream with 1,000 SSE clients (S2), requests/s of the OpenAI-compatible endpoint (S3).
Json run_s1(const BenchArgs& args);
Json run_s2(const BenchArgs& args);
Json run_s3(const BenchArgs& args);
// Remote tool calls between processes (workload_cluster.cpp): round trip (C1), throughput of an
// I/O-bound tool with 1, 2 and 4 workers (C2).
Json run_c1(const BenchArgs& args);
Json run_c2(const BenchArgs& args);

}  // namespace loomflow::cli::bench
