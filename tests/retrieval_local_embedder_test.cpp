// The offline local embedder: deterministic, unit length, similar texts nearer.
#include <gtest/gtest.h>

#include <cmath>

#include "loomflow/tools/retrieval/local_embedder.hpp"

using namespace loomflow;
using namespace loomflow::retrieval;

namespace {

float cosine(const Vector& a, const Vector& b) {
  float s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST(RetrievalLocalEmbedder, TheSameTextAlwaysGivesTheSameUnitVector) {
  LocalEmbedder a, b;
  auto va = a.embed({"The cat sat on the mat.", "Rust and C++"}).value();
  auto vb = b.embed({"The cat sat on the mat.", "Rust and C++"}).value();
  ASSERT_EQ(va.size(), 2u);
  EXPECT_EQ(va, vb);
  for (const auto& v : va) {
    ASSERT_EQ(v.size(), 384u);
    double norm = 0;
    for (float x : v) norm += x * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  EXPECT_EQ(a.name(), "local");
  EXPECT_EQ(LocalEmbedder(128).name(), "local:128");
}

TEST(RetrievalLocalEmbedder, TextsSharingWordsAreNearerThanUnrelatedTexts) {
  LocalEmbedder e;
  auto v = e.embed({"how to reset a forgotten password", "password reset instructions for forgotten accounts",
                    "the weather in Lisbon is sunny today"})
               .value();
  EXPECT_GT(cosine(v[0], v[1]), cosine(v[0], v[2]) + 0.2f);
  EXPECT_GT(cosine(v[0], v[1]), 0.3f);
}

TEST(RetrievalLocalEmbedder, CaseDoesNotMatterAndATextWithoutWordsIsTheZeroVector) {
  LocalEmbedder e;
  EXPECT_EQ(e.embed_one("Hello World"), e.embed_one("hello world"));
  const auto zero = e.embed_one(" ... !!! ");
  for (float x : zero) EXPECT_EQ(x, 0.0f);
}

TEST(RetrievalLocalEmbedder, MakeEmbedderNamesTheLocalAndRemoteEmbeddersAndRejectsOthers) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "OPENAI_BASE_URL") return std::string("http://127.0.0.1:9/v1");
    return std::nullopt;
  };
  EXPECT_EQ(make_embedder("", env).value()->name(), "local");
  EXPECT_EQ(make_embedder("local:64", env).value()->dimension(), 64u);
  EXPECT_EQ(make_embedder("compat:nomic-embed-text", env).value()->name(), "compat:nomic-embed-text");
  EXPECT_FALSE(make_embedder("word2vec", env));
  auto no_url = make_embedder("compat:x", [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_FALSE(no_url);
  EXPECT_NE(no_url.error().message.find("OPENAI_BASE_URL"), std::string::npos);
  auto no_key = make_embedder("openai:text-embedding-3-small", [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("OPENAI_API_KEY"), std::string::npos);
}
