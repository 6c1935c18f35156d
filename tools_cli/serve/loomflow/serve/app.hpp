// loomflow/serve/app.hpp — the HTTP API of `loomflow serve` over the hosted agents and workflows
// (documented in tools_cli/serve/openapi.json):
//
//   GET  /healthz, /readyz                     liveness; readiness (503 while shutting down)
//   GET  /v1/targets                           what is hosted
//   POST /v1/runs                              start a run; {"stream": true} answers with its SSE events
//   GET  /v1/runs                              the caller's runs, newest first
//   GET  /v1/runs/{id}[?wait=true]             status and result (wait: once it finished)
//   POST /v1/runs/{id}/cancel                  cancel it
//   GET  /v1/runs/{id}/events                  its events as SSE (Last-Event-ID resumes) or WebSocket
//   GET  /v1/models, POST /v1/chat/completions  the OpenAI-compatible endpoint (openai_compat.cpp)
//
// Every /v1 request needs `Authorization: Bearer KEY`; the key decides the run's user (401
// otherwise). Bad requests get 4xx JSON errors in the OpenAI error format and change nothing.
// Thread-safety: handle() is called on the HTTP I/O thread and never blocks; the rest is
// thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "loomflow/runtime.hpp"
#include "loomflow/serve/api_keys.hpp"
#include "loomflow/serve/hosted.hpp"
#include "loomflow/serve/run_registry.hpp"

namespace loomflow::serve {

struct AppOptions {
  // False: no key is asked for and every run belongs to "anonymous" (local development only).
  bool require_keys = true;
  std::size_t keep_finished_runs = 1000;
  RunHub::Options hub;
  std::chrono::milliseconds run_timeout{0};  // per run; 0 = none
  // Stored with journaled runs so `loomflow runs resume` can find the spec (see RunOptions::origin).
  std::function<std::string(const HostedTarget&)> origin;
};

class App {
 public:
  App(Runtime& runtime, const Hosted& hosted, ApiKeys keys, AppOptions options);
  // Cancels the runs still going and waits (up to 10 s) until they ended: their last events refer to
  // this App. Destroy the HTTP server first, the Runtime after.
  ~App();

  void handle(const http::ExchangePtr& exchange);
  // Readiness turns 503 and new runs are refused (503); runs in flight go on.
  void begin_shutdown() { shutting_down_ = true; }
  RunRegistry& runs() { return runs_; }

  // Starts `target` for `user` as run `id` (RunRegistry::fresh_id; history: earlier chat turns,
  // agents only). A `primary` client is subscribed before the hub takes the run's first event, so it
  // misses nothing and holds the run back from its start.
  std::shared_ptr<RunRecord> start_run(std::string id, const HostedTarget& target, const UserId& user,
                                       std::string input, std::vector<Message> history,
                                       std::optional<Subscriber> primary = std::nullopt);
  const Hosted& hosted() const { return hosted_; }
  std::int64_t started_unix() const { return started_unix_; }

 private:
  std::optional<UserId> authenticate(const http::ExchangePtr& exchange);
  void route_v1(const http::ExchangePtr& exchange, const UserId& user);
  void post_run(const http::ExchangePtr& exchange, const UserId& user, const nlohmann::json& body);
  void get_run(const http::ExchangePtr& exchange, const UserId& user, const std::string& id);
  void stream_events(const http::ExchangePtr& exchange, const UserId& user, const std::string& id);
  void chat_completions(const http::ExchangePtr& exchange, const UserId& user, const nlohmann::json& body);
  void list_models(const http::ExchangePtr& exchange);

  Runtime& runtime_;
  const Hosted& hosted_;
  const ApiKeys keys_;
  const AppOptions options_;
  RunRegistry runs_;
  std::atomic<bool> shutting_down_{false};
  const std::int64_t started_unix_;
};

// The JSON a run is reported as (GET /v1/runs/{id}).
nlohmann::ordered_json run_json(const RunRecord& record);

}  // namespace loomflow::serve
