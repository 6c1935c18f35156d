// VectorIndex: add and query, persistence (reopen, lost snapshot, replay after the snapshot),
// replacing a source, user partitions, embedder mismatch, and ANN recall against exact search.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "loomflow/tools/retrieval/local_embedder.hpp"
#include "loomflow/tools/retrieval/vector_index.hpp"

using namespace loomflow;
using namespace loomflow::retrieval;

namespace {

// A fresh directory, removed afterwards.
struct TempDir {
  std::string path;
  TempDir() {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("loomflow-retrieval-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
               .string();
    std::filesystem::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const UserId kAlice{"alice"};
const UserId kBob{"bob"};

IndexOptions local_options() { return IndexOptions{.embedder = "local", .dimension = 384}; }

std::shared_ptr<VectorIndex> open_local(const std::string& dir) { return VectorIndex::open(dir, local_options()).value(); }

const char* kCats = "Cats are small carnivorous mammals. A cat sleeps most of the day and purrs when content.";
const char* kRockets = "Rockets burn propellant to produce thrust. A rocket engine expels exhaust at high speed.";
const char* kBread = "Bread is baked from a dough of flour and water, leavened with yeast, then baked in an oven.";

void add_corpus(VectorIndex& index, Embedder& e, const UserId& user) {
  ASSERT_TRUE(add_document(index, e, user, "cats.txt", kCats));
  ASSERT_TRUE(add_document(index, e, user, "rockets.txt", kRockets));
  ASSERT_TRUE(add_document(index, e, user, "bread.txt", kBread));
}

std::vector<std::string> sources(const std::vector<ChunkHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.source);
  return out;
}

}  // namespace

TEST(RetrievalIndex, AQueryFindsTheChunkSharingItsWordsFirst) {
  TempDir dir;
  LocalEmbedder e;
  auto index = open_local(dir.path);
  add_corpus(*index, e, kAlice);
  auto hits = index->query(kAlice, e, "how does a rocket engine make thrust?", 2).value();
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].source, "rockets.txt");
  EXPECT_EQ(hits[0].text, kRockets);
  EXPECT_EQ(hits[0].begin, 0u);
  EXPECT_EQ(hits[0].end, std::string(kRockets).size());
  EXPECT_GT(hits[0].score, hits[1].score);
  EXPECT_EQ(index->stats(kAlice).value().chunks, 3u);
}

TEST(RetrievalIndex, AReopenedIndexLoadsItsSnapshotAndKeepsEveryChunk) {
  TempDir dir;
  LocalEmbedder e;
  {
    auto index = open_local(dir.path);
    add_corpus(*index, e, kAlice);
  }  // closing writes the snapshot
  auto index = VectorIndex::open(dir.path).value();  // embedder and dimension from the index
  EXPECT_EQ(index->info().embedder, "local");
  EXPECT_EQ(index->info().dimension, 384u);
  auto stats = index->stats(kAlice).value();
  EXPECT_TRUE(stats.from_snapshot);
  EXPECT_EQ(stats.replayed, 0u);
  EXPECT_EQ(stats.chunks, 3u);
  EXPECT_EQ(index->query(kAlice, e, "baking bread with yeast", 1).value().at(0).source, "bread.txt");
}

TEST(RetrievalIndex, ADeletedSnapshotIsRebuiltFromTheStore) {
  TempDir dir;
  LocalEmbedder e;
  { add_corpus(*open_local(dir.path), e, kAlice); }
  std::filesystem::remove_all(dir.path + "/hnsw");
  auto index = open_local(dir.path);
  auto stats = index->stats(kAlice).value();
  EXPECT_FALSE(stats.from_snapshot);
  EXPECT_EQ(stats.chunks, 3u);
  EXPECT_EQ(index->query(kAlice, e, "purring cats", 1).value().at(0).source, "cats.txt");
}

TEST(RetrievalIndex, ACorruptSnapshotIsRebuiltFromTheStore) {
  TempDir dir;
  LocalEmbedder e;
  { add_corpus(*open_local(dir.path), e, kAlice); }
  for (const auto& f : std::filesystem::directory_iterator(dir.path + "/hnsw")) {
    std::FILE* file = std::fopen(f.path().c_str(), "r+b");
    std::fseek(file, 200, SEEK_SET);
    std::fputc(0x5A, file);
    std::fclose(file);
  }
  auto index = open_local(dir.path);
  EXPECT_FALSE(index->stats(kAlice).value().from_snapshot);
  EXPECT_EQ(index->stats(kAlice).value().chunks, 3u);
}

TEST(RetrievalIndex, ChunksCommittedAfterTheSnapshotAreReplayedWithoutANewSnapshot) {
  TempDir dir;
  LocalEmbedder e;
  {
    auto options = local_options();
    auto index = VectorIndex::open(dir.path, options).value();
    add_corpus(*index, e, kAlice);
    ASSERT_TRUE(index->checkpoint());
  }
  {
    // As if the process died after these commits: no snapshot is written on close.
    auto options = local_options();
    options.snapshot_on_close = false;
    auto index = VectorIndex::open(dir.path, options).value();
    ASSERT_TRUE(add_document(*index, e, kAlice, "cats.txt", "Dogs bark at the mail carrier every morning."));
    ASSERT_TRUE(add_document(*index, e, kAlice, "tea.txt", "Green tea is steeped in hot water for two minutes."));
  }
  auto index = open_local(dir.path);
  auto stats = index->stats(kAlice).value();
  EXPECT_TRUE(stats.from_snapshot);
  EXPECT_EQ(stats.replayed, 3u);  // two new chunks and the old cats chunk hidden
  EXPECT_EQ(stats.chunks, 4u);
  auto hits = index->query(kAlice, e, "cats purr", 10).value();
  for (const auto& h : hits) EXPECT_EQ(h.text.find("purrs"), std::string::npos) << "the replaced chunk came back";
  EXPECT_EQ(index->query(kAlice, e, "steeped green tea", 1).value().at(0).source, "tea.txt");
}

TEST(RetrievalIndex, AddingASourceAgainReplacesItsChunks) {
  TempDir dir;
  LocalEmbedder e;
  auto index = open_local(dir.path);
  add_corpus(*index, e, kAlice);
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "Sentence number " + std::to_string(i) + " is about rockets and fuel. ";
  auto first = add_document(*index, e, kAlice, "rockets.txt", long_text, {.target_chars = 200, .overlap_chars = 20}).value();
  EXPECT_GT(first.added, 1u);
  EXPECT_EQ(first.replaced, 1u);
  auto second = add_document(*index, e, kAlice, "rockets.txt", "Rockets, briefly.").value();
  EXPECT_EQ(second.added, 1u);
  EXPECT_EQ(second.replaced, first.added);
  EXPECT_EQ(index->stats(kAlice).value().chunks, 3u);
  auto hits = index->query(kAlice, e, "rockets", 10).value();
  EXPECT_EQ(hits.size(), 3u);
  const auto names = sources(hits);
  EXPECT_EQ(std::count(names.begin(), names.end(), "rockets.txt"), 1);
  EXPECT_EQ(index->remove_source(kAlice, "rockets.txt").value(), 1u);
  EXPECT_EQ(index->query(kAlice, e, "rockets", 10).value().size(), 2u);
}

TEST(RetrievalIndex, AUsersQueriesNeverReturnAnotherUsersChunks) {
  TempDir dir;
  LocalEmbedder e;
  auto index = open_local(dir.path);
  add_corpus(*index, e, kAlice);
  ASSERT_TRUE(add_document(*index, e, kBob, "bob-rockets.txt", kRockets));
  const auto bob = index->query(kBob, e, "cats bread rockets", 10).value();
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].source, "bob-rockets.txt");
  const auto bob_exact = index->exact_query(kBob, e.embed_one("cats"), 10).value();
  ASSERT_EQ(bob_exact.size(), 1u);
  EXPECT_EQ(bob_exact[0].source, "bob-rockets.txt");
  const auto alice = index->query(kAlice, e, "rockets", 10).value();
  EXPECT_EQ(alice.size(), 3u);
  for (const auto& h : alice) EXPECT_NE(h.source, "bob-rockets.txt");
  EXPECT_TRUE(index->query(UserId{"carol"}, e, "rockets", 10).value().empty());
}

TEST(RetrievalIndex, OpeningOrQueryingWithAnotherEmbedderIsAnErrorNamingBoth) {
  TempDir dir;
  LocalEmbedder e;
  { add_corpus(*open_local(dir.path), e, kAlice); }
  auto wrong = VectorIndex::open(dir.path, IndexOptions{.embedder = "openai:text-embedding-3-small", .dimension = 1536});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(wrong.error().message.find("'local' (384 dimensions)"), std::string::npos) << wrong.error().message;
  EXPECT_NE(wrong.error().message.find("openai:text-embedding-3-small"), std::string::npos);
  auto index = open_local(dir.path);
  LocalEmbedder small(64);
  auto q = index->query(kAlice, small, "cats", 3);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("local:64"), std::string::npos) << q.error().message;
  auto v = index->query(kAlice, Vector(64, 1.0f), 3);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("64 numbers"), std::string::npos);
  EXPECT_FALSE(VectorIndex::open(dir.path + "-missing", IndexOptions{.create_if_missing = false}));
}

TEST(RetrievalIndex, TheGraphGrowsPastItsInitialCapacity) {
  TempDir dir;
  auto options = IndexOptions{.embedder = "test", .dimension = 8, .initial_capacity = 16};
  auto index = VectorIndex::open(dir.path, options).value();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int s = 0; s < 10; ++s) {
    std::vector<Chunk> chunks(30);
    std::vector<Vector> vectors(30, Vector(8));
    for (std::size_t i = 0; i < 30; ++i) {
      chunks[i] = Chunk{"", i, 0, 1, "x"};
      for (float& x : vectors[i]) x = normal(rng);
    }
    ASSERT_TRUE(index->add(kAlice, "s" + std::to_string(s), chunks, vectors));
  }
  auto stats = index->stats(kAlice).value();
  EXPECT_EQ(stats.chunks, 300u);
  EXPECT_GE(stats.capacity, 300u);
}

// A generated corpus: 10,000 vectors of 128 dimensions around 200 random centres, as spread as the
// centres themselves (cosine ~0.5 within a cluster, ~0 across: embeddings of real text are
// clustered like this), queried with 200 perturbed corpus points.
TEST(RetrievalIndex, RecallAt10OfTheAnnIndexAgainstExactSearchIsAtLeast95Percent) {
  TempDir dir;
  constexpr std::size_t kDim = 128, kCount = 10'000, kCentres = 200, kQueries = 200, kK = 10;
  auto index = VectorIndex::open(dir.path, IndexOptions{.embedder = "test", .dimension = kDim, .build_threads = 1,
                                                        .snapshot_on_close = false}).value();
  std::mt19937_64 rng(2024);
  std::normal_distribution<float> normal;
  std::vector<Vector> centres(kCentres, Vector(kDim));
  for (auto& c : centres)
    for (float& x : c) x = normal(rng);
  auto point_near = [&](const Vector& c, float spread) {
    Vector v(kDim);
    for (std::size_t d = 0; d < kDim; ++d) v[d] = c[d] + spread * normal(rng);
    return v;
  };
  std::vector<Vector> corpus;
  for (std::size_t i = 0; i < kCount; ++i) corpus.push_back(point_near(centres[rng() % kCentres], 1.0f));
  for (std::size_t s = 0; s < kCount / 1000; ++s) {
    std::vector<Chunk> chunks(1000);
    for (std::size_t i = 0; i < 1000; ++i) chunks[i] = Chunk{"", i, 0, 0, ""};
    std::vector<Vector> part(corpus.begin() + static_cast<std::ptrdiff_t>(s * 1000),
                             corpus.begin() + static_cast<std::ptrdiff_t>((s + 1) * 1000));
    ASSERT_TRUE(index->add(kAlice, "part" + std::to_string(s), chunks, part));
  }
  std::size_t found = 0;
  for (std::size_t q = 0; q < kQueries; ++q) {
    const Vector query = point_near(corpus[rng() % kCount], 0.3f);
    auto ann = index->query(kAlice, query, kK).value();
    auto exact = index->exact_query(kAlice, query, kK).value();
    ASSERT_EQ(exact.size(), kK);
    std::set<std::pair<std::string, std::size_t>> truth;
    for (const auto& h : exact) truth.emplace(h.source, h.chunk_index);
    for (const auto& h : ann) found += truth.count({h.source, h.chunk_index});
  }
  const double recall = static_cast<double>(found) / static_cast<double>(kQueries * kK);
  std::printf("[ recall   ] recall@10 = %.4f over %zu queries, %zu vectors of %zu dimensions (M 16, ef_search 64)\n",
              recall, kQueries, kCount, kDim);
  EXPECT_GE(recall, 0.95);
}
