// bench/workload_mcp.cpp — T3: the round trip of one MCP tools/call over stdio against the real
// @modelcontextprotocol/server-everything (`echo`), measured from the caller's side: JSON-RPC
// encoding, the write to the child's stdin, the server's work, the read and the match to the
// waiting call. 500 sequential calls after 20 warm-up calls (p50 is the headline), then 8 threads
// calling at once for throughput. The server command comes from --mcp-command.
#include <algorithm>
#include <sstream>
#include <thread>

#include "bench/bench.hpp"
#include "loomflow/tools/mcp/client.hpp"

namespace loomflow::cli::bench {
namespace {

constexpr int kWarmup = 20;
constexpr int kCalls = 500;
constexpr int kThreads = 8;
constexpr int kCallsPerThread = 100;

}  // namespace

Json run_t3(const BenchArgs& args) {
  std::vector<std::string> command;
  std::istringstream words(args.mcp_command);
  for (std::string word; words >> word;) command.push_back(word);
  if (command.empty()) return error_line("T3", "--mcp-command is empty");
  mcp::ServerOptions options;
  options.name = "everything";
  options.transport = mcp::StdioServer{command, {}, {}};
  std::shared_ptr<mcp::Client> client;
  std::string failure;
  const Sample connect = measure([&] {
    auto connected = mcp::Client::connect(std::move(options));
    if (connected) client = *connected;
    else failure = connected.error().message;
  });
  if (!client) return error_line("T3", "cannot start the MCP server (" + args.mcp_command + "): " + failure);

  const nlohmann::json arguments = {{"message", "ping"}};
  auto call = [&]() -> std::string {
    auto result = client->call_tool("echo", arguments);
    if (!result) return result.error().message;
    if (result->is_error || result->text() != "Echo: ping") return "unexpected answer: " + result->text();
    return {};
  };
  for (int i = 0; i < kWarmup; ++i)
    if (auto problem = call(); !problem.empty()) return error_line("T3", problem);

  std::vector<double> us;
  us.reserve(kCalls);
  const double cpu0 = process_cpu_ms();
  for (int i = 0; i < kCalls; ++i) {
    const auto t0 = Clock::now();
    auto problem = call();
    us.push_back(ms_between(t0, Clock::now()) * 1000.0);
    if (!problem.empty()) return error_line("T3", problem);
  }
  const double cpu_ms = process_cpu_ms() - cpu0;

  std::vector<std::string> problems(kThreads);
  const Sample parallel = measure([&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCallsPerThread && problems[t].empty(); ++i) problems[t] = call();
      });
    for (auto& t : threads) t.join();
  });
  for (const auto& p : problems)
    if (!p.empty()) return error_line("T3", "concurrent calls: " + p);

  double sum = 0;
  for (double v : us) sum += v;
  Json line = header("T3", "mcp-stdio-echo", Json{{"calls", kCalls}, {"server", args.mcp_command}}, 0);
  line["connect_ms"] = round3(connect.wall_ms);
  line["us_per_call"] = round3(percentile(us, 0.5));
  line["warm_us_per_call"] = round3(percentile(us, 0.5));  // every timed call is warm (after 20 warm-up calls)
  line["p99_us_per_call"] = round3(percentile(us, 0.99));
  line["mean_us_per_call"] = round3(sum / kCalls);
  line["client_cpu_us_per_call"] = round3(cpu_ms * 1000.0 / kCalls);
  line["concurrent_calls_per_sec"] = round3(kThreads * kCallsPerThread / (parallel.wall_ms / 1000.0));
  line["target"] = "us_per_call <= 1000";
  line["target_met"] = line["us_per_call"].get<double>() <= 1000.0;
  line["note"] = "client CPU includes this process only; the server (node) runs in its own process";
  return line;
}

}  // namespace loomflow::cli::bench
