// bench/workload_retrieval.cpp — T4: retrieval latency over 100,000 vectors.
//
// 100,000 random unit vectors of 384 dimensions (the size of common small sentence-embedding
// models, e.g. all-MiniLM-L6-v2, and of the local embedder) go into a fresh VectorIndex in a
// temporary directory, 1,000 vectors per source (build_s: RocksDB writes + HNSW inserts, synced
// adds). The vectors are drawn like embeddings of real text are spread: around 1,000 random topic
// centres, as far from their centre as the centres are from the origin (cosine ~0.5 within a
// topic, ~0 across). Then 1,000 query vectors from the same distribution (not in the corpus)
// through VectorIndex::query with k = 10: us_per_query is the p50 (the headline), with p99;
// warm_us_per_query is the p50 of a second pass over the same queries.
// recall_at_10 compares the first 200 queries with exact_query (brute force, same vectors).
// uniform_recall_at_10: the same on 10,000 vectors uniform on the sphere — no structure at all,
// the worst case for any graph index (nearest neighbours are barely nearer than anything else).
// Also: snapshot_s (writing the graph snapshot), reopen_s (opening and loading it), disk_bytes,
// and us_per_tool_call: the "retrieve" tool's function (argument parsing, embedding by a stub
// embedder that hashes the text to a random vector, search, JSON result), called directly.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <thread>
#include <random>

#include "bench/bench.hpp"
#include "loomflow/detail/definitions.hpp"
#include "loomflow/tools/retrieval/retrieval_tool.hpp"
#include "loomflow/tools/retrieval/vector_index.hpp"

namespace loomflow::cli::bench {

namespace {

using namespace loomflow::retrieval;

constexpr std::size_t kVectors = 100'000;
constexpr std::size_t kDimension = 384;
constexpr std::size_t kPerSource = 1'000;
constexpr std::size_t kQueries = 1'000;
constexpr std::size_t kRecallQueries = 200;
constexpr std::size_t kK = 10;

Vector random_unit(std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  Vector v(kDimension);
  double norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += static_cast<double>(x) * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// The tool path's embedder: a text's hash seeds a random unit vector (no model, ~1 µs).
class StubEmbedder final : public Embedder {
 public:
  std::string name() const override { return "bench:random-384"; }
  std::size_t dimension() const override { return kDimension; }
  Expected<std::vector<Vector>> embed(const std::vector<std::string>& texts) override {
    std::vector<Vector> out;
    for (const auto& t : texts) {
      std::mt19937_64 rng(std::hash<std::string>{}(t));
      out.push_back(random_unit(rng));
    }
    return out;
  }
};

std::uint64_t dir_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

// A point near one of `centres` (see the header): Gaussian around it, normalised.
Vector topical_unit(std::mt19937_64& rng, const std::vector<Vector>& centres) {
  std::normal_distribution<float> normal;
  const Vector& c = centres[rng() % centres.size()];
  Vector v(kDimension);
  double norm = 0;
  for (std::size_t d = 0; d < kDimension; ++d) {
    v[d] = c[d] + normal(rng);
    norm += static_cast<double>(v[d]) * v[d];
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// recall@10 of `queries` against exact search in `index`.
Expected<double> recall_at_10(const VectorIndex& index, const UserId& user, const std::vector<Vector>& queries,
                              std::vector<double>* exact_us = nullptr) {
  std::size_t found = 0, wanted = 0;
  for (const auto& q : queries) {
    auto approximate = index.query(user, q, kK);
    if (!approximate) return approximate.error();
    const auto t0 = Clock::now();
    auto exact = index.exact_query(user, q, kK);
    if (exact_us) exact_us->push_back(ms_between(t0, Clock::now()) * 1000.0);
    if (!exact) return exact.error();
    for (const auto& e : *exact) {
      ++wanted;
      for (const auto& a : *approximate)
        if (a.source == e.source && a.chunk_index == e.chunk_index) {
          ++found;
          break;
        }
    }
  }
  return wanted ? static_cast<double>(found) / static_cast<double>(wanted) : 0.0;
}

// recall@10 on 10,000 vectors uniform on the sphere, in a scratch index.
Expected<double> uniform_recall(const std::string& dir, IndexOptions options, std::mt19937_64& rng) {
  options.embedder = "bench:random-384";
  options.dimension = kDimension;
  options.sync = false;
  auto index = VectorIndex::open(dir, options);
  if (!index) return index.error();
  const UserId user{"uniform"};
  std::vector<Chunk> chunks(kPerSource);
  for (std::size_t i = 0; i < kPerSource; ++i) chunks[i] = Chunk{"", i, 0, 0, ""};
  for (std::size_t s = 0; s < 10; ++s) {
    std::vector<Vector> vectors;
    for (std::size_t i = 0; i < kPerSource; ++i) vectors.push_back(random_unit(rng));
    if (auto added = (*index)->add(user, "u" + std::to_string(s), chunks, vectors); !added) return added.error();
  }
  std::vector<Vector> queries;
  for (std::size_t q = 0; q < kRecallQueries; ++q) queries.push_back(random_unit(rng));
  return recall_at_10(**index, user, queries);
}

std::string fresh_dir() {
  std::mt19937_64 rng{std::random_device{}()};
  return (std::filesystem::temp_directory_path() / ("loomflow-t4-" + std::to_string(rng() % 1000000000))).string();
}

}  // namespace

Json run_t4(const BenchArgs& args) {
  const std::string dir = fresh_dir();
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  IndexOptions options;
  options.embedder = "bench:random-384";
  options.dimension = kDimension;
  options.snapshot_every = 0;
  options.snapshot_on_close = false;
  options.build_threads = args.threads;
  const UserId user{"bench"};
  std::mt19937_64 rng(42);
  std::vector<Vector> centres(1'000, Vector(kDimension));
  {
    std::normal_distribution<float> normal;
    for (auto& c : centres)
      for (float& x : c) x = normal(rng);
  }

  auto opened = VectorIndex::open(dir, options);
  if (!opened) return error_line("T4", opened.error().describe());
  auto index = std::move(*opened);  // the only owner: closed before the reopen below
  std::vector<Chunk> chunks(kPerSource);
  for (std::size_t i = 0; i < kPerSource; ++i) chunks[i] = Chunk{"", i, 0, 16, "chunk text " + std::to_string(i)};
  double build_ms = 0;
  for (std::size_t s = 0; s < kVectors / kPerSource; ++s) {
    std::vector<Vector> vectors;
    vectors.reserve(kPerSource);
    for (std::size_t i = 0; i < kPerSource; ++i) vectors.push_back(topical_unit(rng, centres));
    Expected<AddResult> added = AddResult{};
    build_ms += measure([&] { added = index->add(user, "doc-" + std::to_string(s), chunks, vectors); }).wall_ms;
    if (!added) return error_line("T4", "add: " + added.error().describe());
  }

  std::vector<Vector> queries;
  for (std::size_t q = 0; q < kQueries; ++q) queries.push_back(topical_unit(rng, centres));
  std::vector<double> latency_us;
  for (const auto& q : queries) {
    const auto t0 = Clock::now();
    auto hits = index->query(user, q, kK);
    latency_us.push_back(ms_between(t0, Clock::now()) * 1000.0);
    if (!hits) return error_line("T4", "query: " + hits.error().describe());
  }
  // A second pass over the same queries: caches and branch predictors warm.
  std::vector<double> warm_us;
  for (const auto& q : queries) {
    const auto t0 = Clock::now();
    auto hits = index->query(user, q, kK);
    warm_us.push_back(ms_between(t0, Clock::now()) * 1000.0);
    if (!hits) return error_line("T4", "query: " + hits.error().describe());
  }
  std::vector<double> exact_us;
  auto recall = recall_at_10(*index, user, std::vector<Vector>(queries.begin(), queries.begin() + kRecallQueries), &exact_us);
  if (!recall) return error_line("T4", "recall: " + recall.error().describe());

  // The tool path: the function the runtime calls on its detached actor, called directly. (Scoped:
  // the tool holds the index, which must be closed before it is reopened below.)
  std::vector<double> tool_us;
  {
    auto tool = retrieval_tool(index, std::make_shared<StubEmbedder>(), RetrievalToolOptions{});
    if (!tool) return error_line("T4", tool.error().describe());
    const SessionId session{"t4"};
    const ToolContext ctx{user, session, "retrieve", "t4/retrieve"};
    for (std::size_t i = 0; i < 200; ++i) {
      const std::string call = R"({"query":"question )" + std::to_string(i) + R"(","k":10})";
      const auto t0 = Clock::now();
      auto out = tool->impl().fn(ctx, call);
      tool_us.push_back(ms_between(t0, Clock::now()) * 1000.0);
      if (!out) return error_line("T4", "tool call: " + out.error().describe());
    }
  }

  const Sample snapshot = measure([&] { (void)index->checkpoint(); });
  index.reset();
  options.embedder.clear();
  options.dimension = 0;
  Expected<PartitionStats> reopened = PartitionStats{};
  const Sample reopen = measure([&] {
    auto again = VectorIndex::open(dir, options);
    reopened = again ? (*again)->stats(user) : Expected<PartitionStats>(again.error());
  });
  if (!reopened) return error_line("T4", "reopen: " + reopened.error().describe());

  auto uniform = uniform_recall(dir + "-uniform", options, rng);
  {
    std::error_code ec;
    std::filesystem::remove_all(dir + "-uniform", ec);
  }
  if (!uniform) return error_line("T4", "uniform recall: " + uniform.error().describe());
  const double p50 = percentile(latency_us, 0.5);
  Json line = header("T4", "hnsw", Json{{"N", kVectors}, {"dimension", kDimension}, {"queries", kQueries}, {"k", kK},
                                        {"M", IndexOptions{}.M}, {"ef_construction", IndexOptions{}.ef_construction},
                                        {"ef_search", IndexOptions{}.ef_search}},
                     args.threads ? args.threads : std::max(1u, std::thread::hardware_concurrency()));
  line["us_per_query"] = round3(p50);
  line["p99_us_per_query"] = round3(percentile(latency_us, 0.99));
  line["warm_us_per_query"] = round3(percentile(warm_us, 0.5));
  line["mean_us_per_query"] = round3(std::accumulate(latency_us.begin(), latency_us.end(), 0.0) / latency_us.size());
  line["recall_at_10"] = round3(*recall);
  line["uniform_recall_at_10"] = round3(*uniform);
  line["recall_queries"] = kRecallQueries;
  line["exact_us_per_query"] = round3(percentile(exact_us, 0.5));
  line["us_per_tool_call"] = round3(percentile(tool_us, 0.5));
  line["build_s"] = round3(build_ms / 1000.0);
  line["snapshot_s"] = round3(snapshot.wall_ms / 1000.0);
  line["reopen_s"] = round3(reopen.wall_ms / 1000.0);
  line["reopened_from_snapshot"] = reopened->from_snapshot;
  line["disk_bytes"] = dir_bytes(dir);
  line["maxrss_mb"] = round3(maxrss_mb());
  line["target"] = "us_per_query (p50) <= 1000 and recall_at_10 >= 0.90";
  line["target_met"] = p50 <= 1000.0 && *recall >= 0.90;
  return line;
}

}  // namespace loomflow::cli::bench
