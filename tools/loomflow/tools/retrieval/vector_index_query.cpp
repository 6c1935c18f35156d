// VectorIndex queries: approximate (HNSW) and exact (brute force), and partition stats.
#include <cmath>

#include "loomflow/tools/retrieval/internal/index_impl.hpp"

namespace loomflow::retrieval {

using namespace internal;

namespace {

Expected<Vector> unit_query(const IndexInfo& info, const Vector& vector) {
  if (vector.size() != info.dimension)
    return Error{ErrorCode::invalid_argument, "vector index: the query vector has " + std::to_string(vector.size()) +
                                                  " numbers, the index holds " + std::to_string(info.dimension) +
                                                  " (embedder '" + info.embedder + "')"};
  Vector unit = vector;
  double norm = 0;
  for (float x : unit) norm += static_cast<double>(x) * x;
  if (norm > 0) {
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : unit) x *= scale;
  }
  return unit;
}

// The stored chunks behind scored labels, in order.
Expected<std::vector<ChunkHit>> fetch_hits(rocksdb::DB& db, const std::string& user, const Scored& scored) {
  std::vector<ChunkHit> hits;
  hits.reserve(scored.size());
  std::string value;
  for (const auto& [label, score] : scored) {
    auto s = db.Get(rocksdb::ReadOptions(), chunk_key(user, label), &value);
    if (s.IsNotFound()) continue;  // unreachable under the lock; harmless if it ever happens
    if (!s.ok()) return storage_error("reading a chunk of user '" + user + "'", s);
    auto record = decode_chunk(value);
    if (!record) return record.error();
    hits.push_back(ChunkHit{std::move(record->source), record->chunk_index, record->begin, record->end, score,
                            std::move(record->text)});
  }
  return hits;
}

enum class Mode { approximate, exact };

Expected<std::vector<ChunkHit>> run_query(const VectorIndex::Impl& impl, const UserId& user, const Vector& vector,
                                          std::size_t k, Mode mode) {
  auto unit = unit_query(impl.info, vector);
  if (!unit) return unit.error();
  if (k == 0) return std::vector<ChunkHit>();
  std::shared_lock<std::shared_mutex> lock(impl.mutex);
  auto state = impl.find_for_read(user.str(), lock);
  if (!state) return state.error();
  if (!(*state)->graph) return std::vector<ChunkHit>();
  const auto& graph = *(*state)->graph;
  const Scored scored = mode == Mode::exact ? graph.exact(unit->data(), k) : graph.search(unit->data(), k);
  return fetch_hits(*impl.db, user.str(), scored);
}

}  // namespace

Expected<std::vector<ChunkHit>> VectorIndex::query(const UserId& user, const Vector& vector, std::size_t k) const {
  return run_query(*impl_, user, vector, k, Mode::approximate);
}

Expected<std::vector<ChunkHit>> VectorIndex::query(const UserId& user, Embedder& embedder, std::string_view text,
                                                   std::size_t k) const {
  if (embedder.name() != impl_->info.embedder)
    return Error{ErrorCode::invalid_argument, "vector index " + impl_->directory + " holds vectors of embedder '" +
                                                  impl_->info.embedder + "', not '" + embedder.name() +
                                                  "': query it with the embedder it was built with"};
  auto vectors = embedder.embed({std::string(text)});
  if (!vectors) return vectors.error();
  if (vectors->size() != 1) return Error{ErrorCode::model_error, "embedder returned no vector for the query"};
  return query(user, vectors->front(), k);
}

Expected<std::vector<ChunkHit>> VectorIndex::exact_query(const UserId& user, const Vector& vector, std::size_t k) const {
  return run_query(*impl_, user, vector, k, Mode::exact);
}

Expected<PartitionStats> VectorIndex::stats(const UserId& user) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  auto state = impl_->find_for_read(user.str(), lock);
  if (!state) return state.error();
  return (*state)->stats;
}

}  // namespace loomflow::retrieval
