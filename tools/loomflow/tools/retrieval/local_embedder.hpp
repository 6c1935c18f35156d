// loomflow/tools/retrieval/local_embedder.hpp — `LocalEmbedder`: an offline embedder with no model
// files, the embedded default.
//
// Signed feature hashing: lower-cased word unigrams (weight 1), word bigrams (weight 0.5) and the
// character trigrams of each word (weight 0.25 each, so a word's trigrams weigh about as much as
// the word) are hashed (FNV-1a 64) to a dimension and a sign, summed, and the vector L2-normalised.
// Texts sharing words or word pieces are near in cosine; it knows nothing of synonyms. Deterministic
// across runs and machines (no random seeds, no locale). A text without any word gives the zero vector.
// Thread-safety: immutable; `embed` may be called concurrently.
#pragma once

#include "loomflow/tools/retrieval/embedder.hpp"

namespace loomflow::retrieval {

class LocalEmbedder final : public Embedder {
 public:
  // `dimension` >= 16 (default 384); smaller values are raised to 16.
  explicit LocalEmbedder(std::size_t dimension = 384);

  std::string name() const override;  // "local" at 384 dimensions, else "local:DIM"
  std::size_t dimension() const override { return dimension_; }
  Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) override;

  // One text's vector (what `embed` does per text).
  Vector embed_one(std::string_view text) const;

 private:
  std::size_t dimension_;
};

}  // namespace loomflow::retrieval
