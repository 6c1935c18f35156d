// bench/bench_main.cpp — `loomflow bench`: runs the workloads of shared/bench/WORKLOADS.md in order,
// prints one JSON line per workload on stdout and, without --json, a short summary on stderr.
// Also the timing, memory and JSON helpers the workloads share.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>

#include "bench/bench.hpp"

namespace loomflow::cli {

namespace bench {

double process_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double round3(double value) { return std::round(value * 1000.0) / 1000.0; }

std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t heap_bytes() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small-chunk bytes in use + mmapped blocks
}

double maxrss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

Json header(const std::string& workload, const std::string& variant, Json params, std::size_t threads) {
  Json line;
  line["workload"] = workload;
  line["framework"] = "loomflow";
  line["variant"] = variant;
  line["params"] = std::move(params);
  line["threads"] = threads;
  return line;
}

Json error_line(const std::string& workload, const std::string& message) {
  Json line;
  line["workload"] = workload;
  line["framework"] = "loomflow";
  line["error"] = message;
  return line;
}

std::string check_output(const Expected<RunResult>& result, const std::string& expected) {
  if (!result) return "run failed: " + result.error().describe();
  if (result->output != expected) return "output is '" + result->output + "', expected '" + expected + "'";
  return {};
}

}  // namespace bench

namespace {

using bench::Json;

struct Workload {
  const char* name;
  const char* metric;  // the per-unit figure the summary shows
  std::function<Json(const BenchArgs&)> run;
};

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"W1", "us_per_step", [](const BenchArgs& a) { return bench::run_w1(a, 1000, "W1"); }},
      {"W1-200nodes", "us_per_step", [](const BenchArgs& a) { return bench::run_w1(a, 200, "W1-200nodes"); }},
      {"W2", "us_per_run", bench::run_w2},
      {"W3", "us_per_iter", bench::run_w3},
      {"W4", "us_per_step", bench::run_w4},
      {"W5", "us_per_turn", bench::run_w5},
      {"W6", "runs_per_sec", bench::run_w6},
      {"P1", "us_per_call", bench::run_p1},
      {"T1", "us_per_call", bench::run_t1},
      {"T2", "us_per_turn", bench::run_t2},
      {"T3", "us_per_call", bench::run_t3},
      {"T4", "us_per_query", bench::run_t4},
      {"S1", "us_per_event", bench::run_s1},
      {"S2", "kib_per_stream", bench::run_s2},
      {"S3", "requests_per_sec", bench::run_s3},
      {"C1", "us_per_call", bench::run_c1},
      {"C2", "scaling_1_to_4", bench::run_c2},
  };
  return all;
}

bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

// One summary row: "W1           us_per_step      0.912  (warm 0.501)  target ... met".
void print_summary(const Workload& w, const Json& line) {
  if (line.contains("error")) {
    std::fprintf(stderr, "%-12s ERROR: %s\n", w.name, line["error"].get<std::string>().c_str());
    return;
  }
  const std::string warm_key = std::string("warm_") + w.metric;
  std::fprintf(stderr, "%-12s %-13s %12.3f  (warm %.3f)  target %s: %s\n", w.name, w.metric,
               line.value(w.metric, 0.0), line.value(warm_key, 0.0), line.value("target", std::string()).c_str(),
               line.value("target_met", false) ? "met" : "NOT met");
}

}  // namespace

int bench_command(const BenchArgs& args) {
  // -w takes one name or a comma-separated list; empty runs them all, in the table's order.
  std::vector<std::string> wanted;
  for (std::size_t start = 0; start <= args.workload.size() && !args.workload.empty();) {
    const auto comma = std::min(args.workload.find(',', start), args.workload.size());
    wanted.push_back(args.workload.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<const Workload*> selected;
  for (const auto& name : wanted) {
    const Workload* found = nullptr;
    for (const auto& w : workloads())
      if (same_name(name, w.name)) found = &w;
    if (found == nullptr) {
      std::string known;
      for (const auto& w : workloads()) known += (known.empty() ? "" : ", ") + std::string(w.name);
      std::cerr << "loomflow bench: unknown workload '" << name << "' (known: " << known << ")\n";
      return 2;
    }
    selected.push_back(found);
  }
  if (wanted.empty())
    for (const auto& w : workloads()) selected.push_back(&w);

  int status = 0;
  std::vector<Json> lines;
  for (const auto* w : selected) {
    Json line;
    try {
      line = w->run(args);
    } catch (const std::exception& e) {
      line = bench::error_line(w->name, std::string("threw an exception: ") + e.what());
    }
    if (line.contains("error")) status = 1;
    std::cout << line.dump() << std::endl;  // flushed: a later workload's crash must not lose this line
    lines.push_back(std::move(line));
  }

  if (!args.json) {
    std::fprintf(stderr, "\nloomflow bench summary (first run; warm = median of further runs)\n");
    for (std::size_t i = 0; i < selected.size(); ++i) print_summary(*selected[i], lines[i]);
  }
  return status;
}

}  // namespace loomflow::cli
