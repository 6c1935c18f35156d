// loomflow/tools/retrieval/http_embedder.hpp — `HttpEmbedder`: vectors from an OpenAI-compatible
// embeddings endpoint (OpenAI, Ollama, vLLM, llama.cpp server, gateways).
//
// POST {base_url}/embeddings with {"model", "input": [...], "encoding_format": "float"} (plus
// "dimensions" when set), `max_batch` inputs per request, requests one after another. 408, 409, 429,
// 5xx and transport failures (refused, timed out) are retried with the providers' retry policy
// (retry-after honoured, else exponential back-off); the last failure is returned. Errors name the
// URL and what was wrong: 401/403 (the key), other statuses (with the server's message), malformed
// JSON, a wrong number of vectors, or vectors of the wrong or differing dimensions.
// Thread-safety: `embed` may be called from several threads at once; it blocks the calling thread
// until the answer (the HTTP I/O runs on the embedder's own I/O thread) — never call it on an actor
// scheduler thread.
#pragma once

#include <chrono>
#include <memory>

#include "loomflow/tools/retrieval/embedder.hpp"

namespace loomflow::retrieval {

struct HttpEmbedderOptions {
  std::string base_url;          // e.g. "https://api.openai.com/v1" (required; a trailing '/' is dropped)
  std::string model;             // e.g. "text-embedding-3-small" (required)
  std::string api_key;           // sent as "Authorization: Bearer KEY"; empty: no header (default)
  std::string provider = "compat";  // "openai" or "compat": the prefix of name() (default "compat")
  std::string api_key_env = "OPENAI_API_KEY";  // named in the error of a 401/403 (default OPENAI_API_KEY)
  std::size_t dimension = 0;     // expected numbers per vector; 0: learned from the first answer
                                 // (default 0; then every later answer must match it)
  bool send_dimensions = false;  // also send "dimensions": dimension (OpenAI text-embedding-3 models
                                 // can shorten their vectors); default false
  std::size_t max_batch = 96;    // inputs per request, >= 1 (default 96)
  std::chrono::milliseconds timeout{60'000};          // per request, total (default 60 s)
  std::chrono::milliseconds connect_timeout{10'000};  // default 10 s
  int max_attempts = 3;                               // requests per batch in all (default 3: two retries)
  std::chrono::milliseconds initial_backoff{500};     // first retry wait, doubled per retry (default 0.5 s)
  std::chrono::milliseconds max_backoff{8'000};       // retry wait cap (default 8 s)
};

class HttpEmbedder final : public Embedder {
 public:
  // Fails (invalid_argument) without base_url or model, or with max_batch 0.
  static Expected<std::shared_ptr<HttpEmbedder>> create(HttpEmbedderOptions options);
  ~HttpEmbedder() override;

  std::string name() const override;  // "<provider>:<model>"
  std::size_t dimension() const override;
  Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) override;

  struct Impl;
  explicit HttpEmbedder(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace loomflow::retrieval
