#include "loomflow/tools/retrieval/local_embedder.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

namespace loomflow::retrieval {

namespace {

constexpr std::uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t seed) {
  std::uint64_t h = kFnvOffset ^ seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  // Final avalanche (splitmix64's) so low bits are well mixed for the modulo.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// Words: maximal runs of ASCII letters and digits, or of any non-ASCII bytes (UTF-8 letters of
// other scripts), ASCII lower-cased.
std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string current;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool word_byte = std::isalnum(c) != 0 || c >= 0x80;
    if (word_byte) {
      current.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : ch);
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

}  // namespace

LocalEmbedder::LocalEmbedder(std::size_t dimension) : dimension_(std::max<std::size_t>(dimension, 16)) {}

std::string LocalEmbedder::name() const {
  return dimension_ == 384 ? std::string("local") : "local:" + std::to_string(dimension_);
}

Vector LocalEmbedder::embed_one(std::string_view text) const {
  Vector v(dimension_, 0.0f);
  auto add = [&](std::string_view feature, std::uint64_t kind, float weight) {
    const std::uint64_t h = fnv1a(feature, kind);
    const std::size_t slot = static_cast<std::size_t>(h % dimension_);
    v[slot] += (h >> 63) != 0 ? weight : -weight;
  };
  const auto words = words_of(text);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    add(w, 1, 1.0f);
    if (i + 1 < words.size()) add(w + ' ' + words[i + 1], 2, 0.5f);
    const std::string padded = "<" + w + ">";
    for (std::size_t j = 0; j + 3 <= padded.size(); ++j) add(std::string_view(padded).substr(j, 3), 3, 0.25f);
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0) {
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= scale;
  }
  return v;
}

Expected<std::vector<Vector>> LocalEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(embed_one(t));
  return out;
}

}  // namespace loomflow::retrieval
