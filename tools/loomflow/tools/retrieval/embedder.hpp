// loomflow/tools/retrieval/embedder.hpp — `Embedder`: turns texts into vectors for the index, and
// `make_embedder`, which builds one from a name as the CLI and index records spell it.
//
// Implementations: `LocalEmbedder` (local_embedder.hpp; offline, deterministic, the default) and
// `HttpEmbedder` (http_embedder.hpp; OpenAI-compatible `/embeddings`).
// Thread-safety: every Embedder's member functions may be called from any thread concurrently.
// `embed` may block (network I/O): call it from a blocking context (a blocking tool, the CLI, a
// thread of your own), never on an actor scheduler thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::retrieval {

using Vector = std::vector<float>;

class Embedder {
 public:
  virtual ~Embedder() = default;
  // The name that recreates this embedder with make_embedder, e.g. "local", "openai:text-embedding-3-small".
  // An index records it: vectors of different embedders are not comparable.
  virtual std::string name() const = 0;
  // Numbers per vector; 0 when not known before the first successful `embed` (remote models).
  virtual std::size_t dimension() const = 0;
  // One vector per text, in order. Never returns a different count; fails as a whole.
  virtual Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) = 0;
};

// Looks up an environment variable: nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Builds an embedder from its name:
//   "", "local"           LocalEmbedder, 384 dimensions; "local:DIM" another dimension
//   "openai:MODEL"        HttpEmbedder on $OPENAI_BASE_URL (default https://api.openai.com/v1), key
//                         $OPENAI_API_KEY (required for the hosted API)
//   "compat:MODEL"        HttpEmbedder on $OPENAI_BASE_URL (required), key $OPENAI_API_KEY (optional)
// — the variables resolve_model uses for chat models. `getenv` empty: the process environment.
Expected<std::shared_ptr<Embedder>> make_embedder(std::string_view name, EnvLookup getenv = {});

}  // namespace loomflow::retrieval
