#include "loomflow/tools/retrieval/http_embedder.hpp"

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "loomflow/providers/http/http_client.hpp"
#include "loomflow/providers/http/retry.hpp"

namespace loomflow::retrieval {

namespace http = providers::http;
using nlohmann::json;

struct HttpEmbedder::Impl {
  HttpEmbedderOptions options;
  std::string url;
  http::HttpClient client;
  std::atomic<std::size_t> dimension{0};
};

namespace {

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The server's own words about an error: error.message, a string "error", or the body's start.
std::string server_message(const std::string& body) {
  try {
    auto j = json::parse(body);
    if (j.is_object() && j.contains("error")) {
      const auto& e = j["error"];
      if (e.is_string()) return e.get<std::string>();
      if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    }
  } catch (const std::exception&) {
  }
  return body.size() > 200 ? body.substr(0, 200) + "..." : body;
}

Expected<http::HttpResponse> post_once(HttpEmbedder::Impl& impl, const std::string& body) {
  http::HttpRequest request;
  request.url = impl.url;
  request.body = body;
  request.headers.emplace_back("Content-Type", "application/json");
  if (!impl.options.api_key.empty()) request.headers.emplace_back("Authorization", "Bearer " + impl.options.api_key);
  request.connect_timeout = impl.options.connect_timeout;
  request.total_timeout = impl.options.timeout;
  request.idle_timeout = impl.options.timeout;
  auto done = std::make_shared<std::promise<Expected<http::HttpResponse>>>();
  auto answer = done->get_future();
  impl.client.send(std::move(request), nullptr,
                   [done](Expected<http::HttpResponse> response) { done->set_value(std::move(response)); });
  return answer.get();
}

// One request with retries: the 2xx response, or the last failure as an Error.
Expected<http::HttpResponse> post_with_retries(HttpEmbedder::Impl& impl, const std::string& body) {
  http::RetryPolicy policy;
  policy.max_attempts = std::max(1, impl.options.max_attempts);
  policy.initial_backoff = impl.options.initial_backoff;
  policy.max_backoff = impl.options.max_backoff;
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  for (int attempt = 1;; ++attempt) {
    auto response = post_once(impl, body);
    const bool last = attempt >= policy.max_attempts;
    if (!response) {
      if (last || response.error().code != ErrorCode::unavailable) {
        Error e = response.error();
        e.message = "embeddings request to " + impl.url + " failed after " + std::to_string(attempt) +
                    " attempt(s): " + e.message;
        return e;
      }
      std::this_thread::sleep_for(http::retry_delay(nullptr, attempt, policy, jitter(rng)));  // back-off
      continue;
    }
    const int status = response->status;
    if (status >= 200 && status < 300) return response;
    if (status == 401 || status == 403)
      return Error{ErrorCode::permission_denied,
                   "embeddings request to " + impl.url + " was refused (HTTP " + std::to_string(status) +
                       "): check the API key (" + impl.options.api_key_env + "): " + server_message(response->body)};
    if (!last && http::is_retryable(*response)) {
      std::this_thread::sleep_for(http::retry_delay(&*response, attempt, policy, jitter(rng)));  // back-off
      continue;
    }
    const bool transient = http::is_retryable(*response);
    return Error{transient ? ErrorCode::unavailable : ErrorCode::model_error,
                 "embeddings request to " + impl.url + " failed with HTTP " + std::to_string(status) +
                     (attempt > 1 ? " after " + std::to_string(attempt) + " attempts" : std::string()) + ": " +
                     server_message(response->body)};
  }
}

// The vectors of one answer, checked against the request: count, order, dimension.
Expected<std::vector<Vector>> parse_answer(HttpEmbedder::Impl& impl, const std::string& body, std::size_t count) {
  auto bad = [&](const std::string& what) {
    return Error{ErrorCode::model_error, "embeddings response from " + impl.url + ": " + what};
  };
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return bad(std::string("malformed JSON (") + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) return bad("no \"data\" array");
  const auto& data = j["data"];
  if (data.size() != count)
    return bad("got " + std::to_string(data.size()) + " embeddings for " + std::to_string(count) + " inputs");
  std::vector<Vector> out(count);
  std::vector<bool> seen(count, false);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto& item = data[i];
    const std::string where = "data[" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array())
      return bad(where + " has no \"embedding\" array");
    std::size_t slot = i;
    if (item.contains("index")) {
      if (!item["index"].is_number_unsigned() || item["index"].get<std::size_t>() >= count)
        return bad(where + ".index is not an input position below " + std::to_string(count));
      slot = item["index"].get<std::size_t>();
    }
    if (seen[slot]) return bad(where + ".index " + std::to_string(slot) + " appears twice");
    seen[slot] = true;
    const auto& numbers = item["embedding"];
    Vector v;
    v.reserve(numbers.size());
    for (const auto& x : numbers) {
      if (!x.is_number()) return bad(where + ".embedding holds a non-number");
      v.push_back(x.get<float>());
    }
    if (v.empty()) return bad(where + ".embedding is empty");
    std::size_t expected = impl.dimension.load();
    if (expected == 0) {
      impl.dimension.compare_exchange_strong(expected, v.size());
      expected = impl.dimension.load();
    }
    if (v.size() != expected)
      return bad(where + ".embedding has " + std::to_string(v.size()) + " numbers, expected " +
                 std::to_string(expected));
    out[slot] = std::move(v);
  }
  return out;
}

}  // namespace

Expected<std::shared_ptr<HttpEmbedder>> HttpEmbedder::create(HttpEmbedderOptions options) {
  if (options.base_url.empty()) return Error{ErrorCode::invalid_argument, "HttpEmbedder: base_url is empty"};
  if (options.model.empty()) return Error{ErrorCode::invalid_argument, "HttpEmbedder: model is empty"};
  if (options.max_batch == 0) return Error{ErrorCode::invalid_argument, "HttpEmbedder: max_batch must be >= 1"};
  auto impl = std::make_unique<Impl>();
  impl->url = trim_slash(options.base_url) + "/embeddings";
  impl->dimension = options.dimension;
  impl->options = std::move(options);
  return std::make_shared<HttpEmbedder>(std::move(impl));
}

HttpEmbedder::HttpEmbedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpEmbedder::~HttpEmbedder() = default;

std::string HttpEmbedder::name() const { return impl_->options.provider + ":" + impl_->options.model; }
std::size_t HttpEmbedder::dimension() const { return impl_->dimension.load(); }

Expected<std::vector<Vector>> HttpEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  const std::size_t batch = impl_->options.max_batch;
  for (std::size_t first = 0; first < texts.size(); first += batch) {
    const std::size_t n = std::min(batch, texts.size() - first);
    json body = {{"model", impl_->options.model},
                 {"input", json::array()},
                 {"encoding_format", "float"}};
    for (std::size_t i = first; i < first + n; ++i) body["input"].push_back(texts[i]);
    if (impl_->options.send_dimensions && impl_->options.dimension > 0) body["dimensions"] = impl_->options.dimension;
    // Invalid UTF-8 in a document becomes U+FFFD rather than failing the whole batch.
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    auto response = post_with_retries(*impl_, text);
    if (!response) return response.error();
    auto vectors = parse_answer(*impl_, response->body, n);
    if (!vectors) return vectors.error();
    for (auto& v : *vectors) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace loomflow::retrieval
