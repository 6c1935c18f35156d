// bench/workload_serve.cpp — `loomflow serve` on loopback, in process (server, runtime and clients):
//   S1  SSE relay overhead per event: an agent's model streams 20,000 deltas; read directly from
//       Runtime::stream, then through POST /v1/runs {"stream": true} by a socket client; the
//       difference per event is what the HTTP/SSE layer adds.
//   S2  1,000 concurrent SSE clients: 1,000 streamed runs whose model sent its first deltas and then
//       holds its answer; memory per open stream (process RSS growth / 1,000, clients included).
//   S3  requests per second of POST /v1/chat/completions (non-stream) with a scripted (per_run)
//       model, 8 keep-alive client connections.
// The model of S1/S2 is an in-process asynchronous provider that streams through the run's
// TextSink — no model HTTP, so the figures are the serve stack's own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench/bench.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/serve/app.hpp"
#include "loomflow/serve/http/server.hpp"

namespace loomflow::cli::bench {
namespace {

// Streams `deltas` pieces of text through the run's sink, then answers — at once, or when released.
class StreamingModel final : public Provider, public std::enable_shared_from_this<StreamingModel> {
 public:
  StreamingModel(std::size_t deltas, bool hold) : deltas_(deltas), hold_(hold) {}
  std::string_view name() const noexcept override { return "bench-stream"; }
  bool asynchronous() const noexcept override { return true; }
  void start(ModelRequest request, Completion done) override {
    std::string text;
    for (std::size_t k = 0; k < deltas_; ++k) {
      const std::string delta = "d" + std::to_string(k) + " ";
      if (request.text_sink) request.text_sink->on_text(delta);
      text += delta;
    }
    ModelResponse response{Message::assistant(std::move(text)), {}};
    response.finish_reason = "stop";
    if (!hold_) {
      done(std::move(response));
      return;
    }
    std::lock_guard<std::mutex> guard(mutex_);
    held_.emplace_back(std::move(done), std::move(response));
  }
  std::size_t held() {
    std::lock_guard<std::mutex> guard(mutex_);
    return held_.size();
  }
  void release_all() {
    std::vector<std::pair<Completion, ModelResponse>> held;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      held.swap(held_);
    }
    for (auto& [done, response] : held) done(std::move(response));
  }

 private:
  const std::size_t deltas_;
  const bool hold_;
  std::mutex mutex_;
  std::vector<std::pair<Completion, ModelResponse>> held_;
};

const char* kSpec = R"({"loomflow": 1, "name": "bench",
  "agents": {"talker": {"model": "stream"},
             "scripted": {"model": "scripted", "script_mode": "per_run", "script": [{"text": "Hello from a scripted agent."}]}},
  "workflow": {"entry": "say", "nodes": {"say": {"type": "agent", "agent": "talker"}}}})";
const std::string kKey = "sk-bench-000000000000000001";

// The server, the app and the runtime of one workload.
struct Served {
  std::filesystem::path dir;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<serve::Hosted> hosted;
  std::unique_ptr<serve::App> app;
  std::unique_ptr<serve::http::Server> server;

  ~Served() {
    if (server) server->shutdown(std::chrono::milliseconds(0));
    app.reset();
    runtime.reset();
    hosted.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Expected<std::unique_ptr<Served>> serve_spec(const BenchArgs& args, std::shared_ptr<Provider> model) {
  auto served = std::make_unique<Served>();
  std::string pattern = "/tmp/loomflow-bench-serve-XXXXXX";
  served->dir = ::mkdtemp(pattern.data());
  std::ofstream(served->dir / "bench.json") << kSpec;
  SpecEnvironment env;
  env.make_model = [model](std::string_view name, const nlohmann::json& agent, const std::string& path) -> Expected<Model> {
    if (name == "stream") return Model{model, "bench-stream"};
    return providers::builtin_model(name, agent, path);
  };
  auto hosted = serve::load_hosted((served->dir / "bench.json").string(), env);
  if (!hosted) return hosted.error();
  served->hosted = std::make_unique<serve::Hosted>(std::move(*hosted));
  served->runtime = std::make_unique<Runtime>(RuntimeConfig{args.threads});
  auto keys = serve::ApiKeys::from_list(kKey + "=bench", "bench").value();
  serve::AppOptions options;
  options.hub.history_events = 64;  // the streams are read live; a long history only costs memory here
  served->app = std::make_unique<serve::App>(*served->runtime, *served->hosted, std::move(keys), options);
  serve::http::ServerOptions server_options;
  server_options.max_connections = 20'000;
  auto* app = served->app.get();
  auto server = serve::http::Server::start(server_options, [app](serve::http::ExchangePtr e) { app->handle(e); });
  if (!server) return server.error();
  served->server = std::move(*server);
  return served;
}

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::string http_post(std::uint16_t port, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nAuthorization: Bearer " + kKey +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Reads from `fd` until `marker` arrived; counts how often `count` appears on the way.
bool read_until(int fd, const std::string& marker, const std::string& count, std::size_t& counted) {
  std::string window;
  std::size_t count_from = 0;  // occurrences before this offset were counted already
  char buffer[65536];
  for (;;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    window.append(buffer, static_cast<std::size_t>(n));
    for (auto at = window.find(count, count_from); at != std::string::npos; at = window.find(count, count_from)) {
      ++counted;
      count_from = at + count.size();
    }
    if (window.find(marker) != std::string::npos) return true;
    // Keep a tail for markers split across reads.
    if (window.size() > 4096) {
      const std::size_t drop = window.size() - 256;
      window.erase(0, drop);
      count_from = count_from > drop ? count_from - drop : 0;
    }
  }
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

Json run_s1(const BenchArgs& args) {
  constexpr std::size_t kDeltas = 20'000;
  auto model = std::make_shared<StreamingModel>(kDeltas, false);
  auto served = serve_spec(args, model);
  if (!served) return error_line("S1", served.error().message);
  const auto* target = (*served)->hosted->find("bench/talker");
  // Direct: the same run read from Runtime::stream in process.
  std::size_t direct_deltas = 0;
  const Sample direct = measure([&] {
    auto stream = (*served)->runtime->stream(*target->agent, "go");
    while (auto e = stream.next()) direct_deltas += e->kind == EventKind::text_delta;
  });
  // Through HTTP: POST /v1/runs {"stream": true}, read by a socket client.
  std::size_t sse_deltas = 0;
  bool complete = false;
  const auto port = (*served)->server->port();
  const Sample relayed = measure([&] {
    const int fd = connect_loopback(port);
    if (fd < 0) return;
    send_all(fd, http_post(port, "/v1/runs", R"({"target":"bench/talker","input":"go","stream":true})"));
    complete = read_until(fd, "event: run_finished", "event: text_delta", sse_deltas);
    ::close(fd);
  });
  if (direct_deltas != kDeltas || sse_deltas != kDeltas || !complete)
    return error_line("S1", "expected " + std::to_string(kDeltas) + " deltas, got " + std::to_string(direct_deltas) +
                                " directly and " + std::to_string(sse_deltas) + " over SSE");
  Json line = header("S1", "sse-relay", Json{{"events", kDeltas}}, (*served)->runtime->worker_threads());
  const double direct_us = direct.wall_ms * 1000.0 / kDeltas;
  const double sse_us = relayed.wall_ms * 1000.0 / kDeltas;
  line["us_per_event"] = round3(sse_us - direct_us);
  line["warm_us_per_event"] = line["us_per_event"];
  line["direct_us_per_event"] = round3(direct_us);
  line["sse_us_per_event"] = round3(sse_us);
  line["sse_cpu_us_per_event"] = round3(relayed.cpu_ms * 1000.0 / kDeltas);
  line["target"] = "us_per_event <= 5";
  line["target_met"] = sse_us - direct_us <= 5.0;
  line["note"] = "us_per_event = SSE wall per event minus in-process stream wall per event (server + client in one process)";
  return line;
}

Json run_s2(const BenchArgs& args) {
  constexpr std::size_t kClients = 1000, kDeltas = 10;
  raise_fd_limit();
  auto model = std::make_shared<StreamingModel>(kDeltas, true);
  auto served = serve_spec(args, model);
  if (!served) return error_line("S2", served.error().message);
  const auto port = (*served)->server->port();
  const std::size_t rss_before = rss_bytes();
  std::vector<int> fds;
  std::vector<std::size_t> seen(kClients, 0);
  const auto t0 = Clock::now();
  for (std::size_t k = 0; k < kClients; ++k) {
    const int fd = connect_loopback(port);
    if (fd < 0 || !send_all(fd, http_post(port, "/v1/runs", R"({"target":"bench/talker","input":"go","stream":true})")))
      return error_line("S2", "client " + std::to_string(k) + " could not connect (raise `ulimit -n`?)");
    fds.push_back(fd);
  }
  // Every client reads until its stream delivered the model's first deltas; the runs stay open.
  auto read_all = [&](const std::string& marker, std::size_t wanted) {
    std::vector<std::string> tails(kClients);
    std::vector<pollfd> polls(kClients);
    std::size_t done = 0;
    std::vector<bool> finished(kClients, false);
    char buffer[16384];
    while (done < kClients) {
      for (std::size_t k = 0; k < kClients; ++k) polls[k] = pollfd{finished[k] ? -1 : fds[k], POLLIN, 0};
      if (::poll(polls.data(), polls.size(), 30'000) <= 0) return false;
      for (std::size_t k = 0; k < kClients; ++k) {
        if (finished[k] || !(polls[k].revents & (POLLIN | POLLHUP))) continue;
        const auto n = ::recv(fds[k], buffer, sizeof buffer, 0);
        if (n <= 0) return false;
        tails[k].append(buffer, static_cast<std::size_t>(n));
        std::size_t count = 0;
        for (auto at = tails[k].find(marker); at != std::string::npos; at = tails[k].find(marker, at + 1)) ++count;
        if (count >= wanted) {
          finished[k] = true;
          ++done;
          tails[k].clear();
        }
      }
    }
    return true;
  };
  if (!read_all("event: text_delta", kDeltas)) return error_line("S2", "not every stream delivered its first events");
  const double open_ms = ms_between(t0, Clock::now());
  const std::size_t rss_open = rss_bytes();
  const std::size_t held = model->held();
  const auto t1 = Clock::now();
  model->release_all();
  if (!read_all("event: run_finished", 1)) return error_line("S2", "not every stream finished");
  const double finish_ms = ms_between(t1, Clock::now());
  for (int fd : fds) ::close(fd);
  Json line = header("S2", "sse-1000-clients", Json{{"clients", kClients}, {"deltas_each", kDeltas}},
                     (*served)->runtime->worker_threads());
  const double kib_per_stream = static_cast<double>(rss_open - rss_before) / 1024.0 / kClients;
  line["kib_per_stream"] = round3(kib_per_stream);
  line["warm_kib_per_stream"] = line["kib_per_stream"];
  line["runs_held_open"] = held;
  line["open_and_first_events_ms"] = round3(open_ms);
  line["finish_all_ms"] = round3(finish_ms);
  line["target"] = "kib_per_stream <= 64";
  line["target_met"] = kib_per_stream <= 64.0;
  line["note"] = "RSS growth with every stream open and its run suspended, clients' sockets included";
  return line;
}

Json run_s3(const BenchArgs& args) {
  constexpr int kConnections = 8, kRequestsEach = 500;
  auto served = serve_spec(args, std::make_shared<StreamingModel>(1, false));
  if (!served) return error_line("S3", served.error().message);
  const auto port = (*served)->server->port();
  const std::string body = R"({"model":"bench/scripted","messages":[{"role":"user","content":"hi"}]})";
  const std::string request = http_post(port, "/v1/chat/completions", body);
  std::vector<std::vector<double>> latencies(kConnections);
  std::vector<std::string> problems(kConnections);
  const Sample all = measure([&] {
    std::vector<std::thread> threads;
    for (int c = 0; c < kConnections; ++c)
      threads.emplace_back([&, c] {
        const int fd = connect_loopback(port);
        if (fd < 0) {
          problems[c] = "cannot connect";
          return;
        }
        char buffer[16384];
        for (int i = 0; i < kRequestsEach && problems[c].empty(); ++i) {
          const auto t0 = Clock::now();
          if (!send_all(fd, request)) problems[c] = "send failed";
          // One keep-alive response: headers, then Content-Length bytes.
          std::string got;
          std::size_t need = std::string::npos;
          while (problems[c].empty()) {
            const auto n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) {
              problems[c] = "connection closed";
              break;
            }
            got.append(buffer, static_cast<std::size_t>(n));
            const auto head_end = got.find("\r\n\r\n");
            if (need == std::string::npos && head_end != std::string::npos) {
              if (got.rfind("HTTP/1.1 200", 0) != 0) problems[c] = "answer: " + got.substr(0, got.find("\r\n"));
              auto at = got.find("Content-Length: ");
              need = head_end + 4 + std::stoul(got.substr(at + 16));
            }
            if (need != std::string::npos && got.size() >= need) break;
          }
          if (problems[c].empty() && got.find("Hello from a scripted agent.") == std::string::npos)
            problems[c] = "unexpected answer";
          latencies[c].push_back(ms_between(t0, Clock::now()) * 1000.0);
        }
        ::close(fd);
      });
    for (auto& t : threads) t.join();
  });
  for (const auto& p : problems)
    if (!p.empty()) return error_line("S3", p);
  std::vector<double> us;
  for (const auto& l : latencies) us.insert(us.end(), l.begin(), l.end());
  const double total = static_cast<double>(kConnections) * kRequestsEach;
  Json line = header("S3", "openai-chat-completions",
                     Json{{"connections", kConnections}, {"requests", total}, {"model", "scripted per_run"}},
                     (*served)->runtime->worker_threads());
  const double rps = total / (all.wall_ms / 1000.0);
  line["requests_per_sec"] = round3(rps);
  line["warm_requests_per_sec"] = line["requests_per_sec"];
  line["p50_us"] = round3(percentile(us, 0.5));
  line["p99_us"] = round3(percentile(us, 0.99));
  line["cpu_us_per_request"] = round3(all.cpu_ms * 1000.0 / total);
  line["target"] = "requests_per_sec >= 5000";
  line["target_met"] = rps >= 5000.0;
  line["note"] = "server and clients share the process and its 2 cores";
  return line;
}

}  // namespace loomflow::cli::bench
