// bench/workload_cluster.cpp — remote tool calls across processes on loopback:
//   C1  round trip of one remote tool call (the built-in `add`), sequential: this process is a
//       cluster node and calls through its router, exactly as an agent's tool dispatch does; one
//       `loomflow worker` process serves the tool. p50/p99 and calls per second.
//   C2  throughput of an I/O-bound tool (`wait` 20 ms) with 1, 2 and 4 worker processes of
//       capacity 8, 64 calls kept in flight; scaling = calls/s with 4 workers / (4 x with 1).
// Workers are this program (`/proc/self/exe worker ...`) started and stopped here; membership and
// the secret are real, on 127.0.0.1.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include <caf/all.hpp>

#include "bench/bench.hpp"
#include "loomflow/cluster/node.hpp"
#include "loomflow/cluster/node_internals.hpp"

namespace loomflow::cli::bench {
namespace {

using namespace std::chrono_literals;

constexpr char kSecret[] = "bench-secret-0123456789abcdef0123";

// `loomflow worker` processes of this very program; stopped (SIGTERM, then reaped) on destruction.
class Workers {
 public:
  Workers(const std::string& seed, const std::string& tools, std::size_t count, std::uint32_t capacity,
          const std::string& prefix) {
    secret_file_ = std::filesystem::temp_directory_path() / ("loomflow-bench-secret-" + std::to_string(::getpid()));
    {
      std::ofstream out(secret_file_);
      out << kSecret;
    }
    std::filesystem::permissions(secret_file_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    for (std::size_t k = 0; k < count; ++k) {
      std::vector<std::string> args = {"/proc/self/exe", "worker", "--join", seed, "--secret-file", secret_file_.string(),
                                       "--tools", tools, "--capacity", std::to_string(capacity), "--name",
                                       prefix + std::to_string(k + 1), "--threads", "1"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const pid_t pid = ::fork();
      if (pid == 0) {
        const int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDOUT_FILENO);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~Workers() {
    for (pid_t pid : pids_) ::kill(pid, SIGTERM);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    std::error_code ec;
    std::filesystem::remove(secret_file_, ec);
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

 private:
  std::filesystem::path secret_file_;
  std::vector<pid_t> pids_;
};

// C1 runs one scheduler thread per process by default (--threads overrides it): on 2 cores, two
// processes' worth of polling threads would compete for them.
Expected<std::unique_ptr<cluster::Node>> bench_node(const BenchArgs& args, std::size_t default_threads) {
  cluster::NodeConfig config;
  config.name = "bench";
  config.access.secret = kSecret;
  config.runtime.worker_threads = args.threads != 0 ? args.threads : default_threads;
  return cluster::Node::start(std::move(config));
}

bool wait_workers(cluster::Node& node, const std::string& prefix, std::size_t count) {
  return node.wait_until(
      [&](const std::vector<cluster::MemberStatus>& members) {
        std::size_t up = 0;
        for (const auto& m : members)
          if (m.info.role == cluster::MemberRole::worker && m.state == cluster::MemberState::up &&
              m.info.name.rfind(prefix, 0) == 0)
            ++up;
        return up == count;
      },
      30s);
}

actors::tool_invocation invocation(const std::string& tool, const std::string& arguments, std::uint64_t k) {
  actors::tool_invocation inv;
  inv.ctx.user_id = UserId{"bench"};
  inv.ctx.session_id = SessionId{"s-bench"};
  inv.step = "bench/turn-1/tool-" + std::to_string(k);
  inv.call = ToolCall{"c" + std::to_string(k), tool, arguments};
  return inv;
}

struct Driven {
  std::vector<double> rtt_us;  // one per call
  std::size_t failures = 0;
  std::string first_failure;
  double wall_ms = 0;
};

// Sends `total` calls through the router from an event-based actor, `in_flight` at a time.
Driven drive(cluster::Node& node, const std::string& tool, const std::string& arguments, std::size_t total,
             std::size_t in_flight) {
  auto router = cluster::internal::router_of(node);
  auto done = std::make_shared<std::promise<Driven>>();
  auto future = done->get_future();
  struct State {
    Driven out;
    std::size_t sent = 0, answered = 0;
    Clock::time_point start;
  };
  cluster::internal::system_of(node).spawn([=](caf::event_based_actor* self) {
    auto state = std::make_shared<State>();
    state->out.rtt_us.reserve(total);
    state->start = Clock::now();
    auto send_one = std::make_shared<std::function<void()>>();
    *send_one = [=] {
      const auto k = state->sent++;
      const auto t0 = Clock::now();
      self->request(router, caf::infinite, invocation(tool, arguments, k))
          .then([=](actors::tool_result& r) {
            state->out.rtt_us.push_back(ms_between(t0, Clock::now()) * 1000.0);
            if (r.is_error && state->out.failures++ == 0) state->out.first_failure = r.content;
            if (++state->answered == total) {
              state->out.wall_ms = ms_between(state->start, Clock::now());
              done->set_value(std::move(state->out));
              self->quit();
              return;
            }
            if (state->sent < total) (*send_one)();
          });
    };
    for (std::size_t i = 0; i < std::min(in_flight, total); ++i) (*send_one)();
  });
  return future.get();
}

}  // namespace

Json run_c1(const BenchArgs& args) {
  auto node = bench_node(args, 1);
  if (!node) return error_line("C1", node.error().message);
  Workers workers((*node)->address(), "add", 1, 16, "c1-w");
  if (!wait_workers(**node, "c1-w", 1)) return error_line("C1", "the worker did not join within 30 s");
  constexpr std::size_t kWarmup = 2000, kCalls = 20000;
  const std::string args_json = R"({"a":1,"b":2})";
  auto warm = drive(**node, "add", args_json, kWarmup, 1);
  auto timed = drive(**node, "add", args_json, kCalls, 1);
  if (warm.failures + timed.failures > 0) return error_line("C1", "a call failed: " + warm.first_failure + timed.first_failure);
  Json line = header("C1", "remote-tool-rtt", Json{{"calls", kCalls}, {"tool", "add"}, {"workers", 1}},
                     (*node)->runtime().worker_threads());
  const double p50 = percentile(timed.rtt_us, 0.5);
  line["us_per_call"] = round3(p50);
  line["warm_us_per_call"] = round3(p50);
  line["p50_us"] = round3(p50);
  line["p99_us"] = round3(percentile(timed.rtt_us, 0.99));
  line["calls_per_sec"] = round3(static_cast<double>(kCalls) / (timed.wall_ms / 1000.0));
  line["target"] = "p50 < 100 us";
  line["target_met"] = p50 < 100.0;
  return line;
}

Json run_c2(const BenchArgs& args) {
  auto node = bench_node(args, 0);
  if (!node) return error_line("C2", node.error().message);
  constexpr std::uint32_t kCapacity = 8;
  constexpr std::size_t kInFlight = 64, kRoundsPerSlot = 15;
  const std::string wait_json = R"({"ms":20})";
  Json per_workers = Json::object();
  double one = 0, four = 0;
  for (std::size_t n : {1, 2, 4}) {
    const std::string prefix = "c2-" + std::to_string(n) + "-w";
    Workers workers((*node)->address(), "wait", n, kCapacity, prefix);
    if (!wait_workers(**node, prefix, n)) return error_line("C2", "the workers did not join within 30 s");
    const std::size_t calls = n * kCapacity * kRoundsPerSlot;
    auto run = drive(**node, "wait", wait_json, calls, kInFlight);
    if (run.failures > 0) return error_line("C2", "a call failed: " + run.first_failure);
    const double per_sec = static_cast<double>(calls) / (run.wall_ms / 1000.0);
    per_workers[std::to_string(n)] = Json{{"calls", calls}, {"calls_per_sec", round3(per_sec)},
                                          {"ideal_calls_per_sec", n * kCapacity * 1000.0 / 20.0},
                                          {"p50_us", round3(percentile(run.rtt_us, 0.5))}};
    if (n == 1) one = per_sec;
    if (n == 4) four = per_sec;
  }
  Json line = header("C2", "remote-io-tool-scaling",
                     Json{{"tool", "wait 20 ms"}, {"capacity_per_worker", kCapacity}, {"in_flight", kInFlight}},
                     (*node)->runtime().worker_threads());
  const double scaling = four / (4.0 * one);
  line["scaling_1_to_4"] = round3(scaling);
  line["warm_scaling_1_to_4"] = round3(scaling);
  line["by_workers"] = std::move(per_workers);
  line["target"] = ">= 0.9x linear from 1 to 4 workers";
  line["target_met"] = scaling >= 0.9;
  return line;
}

}  // namespace loomflow::cli::bench
