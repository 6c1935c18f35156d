// loomflow/providers/http_model.hpp — a model provider that speaks an HTTP API: OpenAI Chat
// Completions (and every OpenAI-compatible endpoint: LiteLLM, vLLM, Ollama, OpenRouter) or
// Anthropic Messages. What differs between APIs is a `Dialect`; calling, streaming, retrying and
// error reporting are shared here.
//
// Asynchronous: each call is an HTTP request on a shared HttpClient's I/O thread, so a run waiting
// on the model holds no thread. Retries follow http/retry.hpp with the options' policy; statuses
// that are not retryable (400, 401, 403, 404, ...) surface the API's own message, type and code.
// The API key is sent in a header and never appears in an error, log or trace.
// Thread-safety: start() may be called from any thread. Must be owned by a std::shared_ptr (as
// Model holds it): calls in flight keep the provider alive.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>

#include "loomflow/provider.hpp"
#include "loomflow/providers/http/http_client.hpp"
#include "loomflow/providers/http/retry.hpp"
#include "loomflow/providers/pricing.hpp"
#include "loomflow/providers/wire/sse.hpp"

namespace loomflow::providers {

// Reads one streamed response, event by event.
class StreamReader {
 public:
  virtual ~StreamReader() = default;
  virtual Expected<void> on_event(const wire::SseEvent& event) = 0;
  // Receives each text delta as it is read.
  virtual void set_text_sink(std::function<void(std::string_view)> sink) = 0;
  // The assembled response once the body ended (a stream without its end marker is an error).
  virtual Expected<ModelResponse> finish() = 0;
};

// What an API error body said.
struct ApiErrorInfo {
  std::string type;
  std::string code;
  std::string message;
};

// Per-call knobs every dialect understands.
struct CallSettings {
  std::optional<double> temperature;  // default: the API's
  std::optional<int> max_tokens;      // default: the API's (Anthropic: 4096, it is required there)
  std::string tool_choice;            // "" = the API's default; "auto", "none", "required", or a tool name
  bool stream = false;                // stream each call over SSE (default: no)
};

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual std::string_view api_name() const noexcept = 0;  // "openai", "anthropic"
  virtual std::string path() const = 0;                    // appended to the base URL
  virtual http::Headers headers(const std::string& api_key, bool stream) const = 0;
  virtual Expected<std::string> build(const ModelRequest& request, const CallSettings& settings) const = 0;
  virtual Expected<ModelResponse> parse(std::string_view body, const std::string& label,
                                        const ModelRequest& request) const = 0;
  virtual std::unique_ptr<StreamReader> stream_reader(const std::string& label, const ModelRequest& request) const = 0;
  virtual ApiErrorInfo parse_error(int status, std::string_view body) const = 0;
};

struct HttpModelOptions {
  std::string base_url;                  // OpenAI: includes /v1; Anthropic: the host root
  std::string api_key;                   // empty: no key header (local servers)
  std::string provider_name;             // how errors name it ("openai", "compat", "anthropic")
  http::Headers extra_headers;           // sent with every call (default: none)
  CallSettings call;
  http::RetryPolicy retry;
  std::chrono::milliseconds connect_timeout{10'000};  // default 10 s
  std::chrono::milliseconds total_timeout{600'000};   // default 10 min
  std::chrono::milliseconds idle_timeout{60'000};     // no bytes for this long; default 60 s
  // With call.stream: every text delta of every call, as it is read, on the HTTP I/O thread (for
  // a command line that prints as it goes). Must be quick. Default: none.
  std::function<void(std::string_view)> on_text;
  // Prices each call's usage (Usage::cost_usd); null or no entry for the model: cost 0.
  std::shared_ptr<const PriceTable> prices;
};

class HttpModelProvider final : public Provider, public std::enable_shared_from_this<HttpModelProvider> {
 public:
  HttpModelProvider(std::shared_ptr<http::HttpClient> client, std::shared_ptr<const Dialect> dialect,
                    HttpModelOptions options);

  std::string_view name() const noexcept override { return options_.provider_name; }
  bool asynchronous() const noexcept override { return true; }
  void start(ModelRequest request, Completion done) override;
  // Stops the call's HTTP transfer (and any retry); its completion reports `cancelled`.
  void cancel(const std::string& call_id) override;

  const HttpModelOptions& options() const noexcept { return options_; }
  // Calls started and not yet completed.
  std::size_t in_flight() const;

 private:
  struct Call;
  void attempt(std::shared_ptr<Call> call);
  void settle(std::shared_ptr<Call> call, Expected<http::HttpResponse> outcome);
  void complete(const std::shared_ptr<Call>& call, Expected<ModelResponse> outcome);

  std::shared_ptr<http::HttpClient> client_;
  std::shared_ptr<const Dialect> dialect_;
  HttpModelOptions options_;
  mutable std::mutex calls_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;  // in flight, by call_id
};

}  // namespace loomflow::providers
