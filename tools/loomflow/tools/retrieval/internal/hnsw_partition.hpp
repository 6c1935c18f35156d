// internal/hnsw_partition.hpp — one user's approximate-nearest-neighbour graph: an hnswlib
// HierarchicalNSW over unit vectors with the inner-product space (1 - cosine as distance).
// The only place that includes hnswlib (its header defines non-inline functions).
// Thread-safety: `search`, `exact`, `save` may run concurrently with each other; `add`,
// `mark_deleted` need exclusive access (the VectorIndex's writer lock provides it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::retrieval::internal {

struct HnswParams {
  std::size_t dimension = 0;
  std::size_t M = 16;
  std::size_t ef_construction = 100;
  std::size_t ef_search = 64;
  std::size_t initial_capacity = 1024;
  double growth_factor = 2.0;
  std::size_t threads = 1;  // threads inserting one batch
};

// (label, cosine score), best first.
using Scored = std::vector<std::pair<std::uint64_t, float>>;

class HnswPartition {
 public:
  static Expected<std::unique_ptr<HnswPartition>> create(const HnswParams& params);
  // Loads a file written by `save`; fails (journal_corrupt) when it does not fit `params.dimension`.
  static Expected<std::unique_ptr<HnswPartition>> load(const std::string& path, const HnswParams& params);
  ~HnswPartition();

  // Inserts unit vectors (row-major, `dimension` floats each) under `labels`, growing the graph as needed.
  Expected<void> add(const std::vector<std::uint64_t>& labels, const std::vector<float>& rows);
  // Hides `label` from searches; false when it is not in the graph or already hidden.
  bool mark_deleted(std::uint64_t label);
  Scored search(const float* query, std::size_t k) const;
  Scored exact(const float* query, std::size_t k) const;  // brute force over the live vectors
  Expected<void> save(const std::string& path) const;     // hnswlib's format, not synced

  std::size_t live() const;      // vectors searchable
  std::size_t capacity() const;  // slots before the next growth

  struct Impl;
  explicit HnswPartition(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace loomflow::retrieval::internal
