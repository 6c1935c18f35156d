// internal/index_impl.hpp — the state behind VectorIndex: the RocksDB handle, the lock, and the
// in-memory partitions (one HNSW graph per user), shared by vector_index*.cpp and partitions.cpp.
// Thread-safety: `mutex` guards `partitions` and every graph: shared for queries, exclusive for
// loading a partition, adds, removals and snapshots.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include <rocksdb/db.h>

#include "loomflow/tools/retrieval/internal/hnsw_partition.hpp"
#include "loomflow/tools/retrieval/internal/records.hpp"
#include "loomflow/tools/retrieval/vector_index.hpp"

namespace loomflow::retrieval {

namespace internal {

struct PartitionState {
  std::unique_ptr<HnswPartition> graph;  // null while the user has never had a chunk
  PartitionRecord record;                // as committed in RocksDB
  PartitionStats stats;
  std::size_t added_since_snapshot = 0;
  bool dirty = false;                    // changed since its snapshot
};

Error storage_error(const std::string& what, const rocksdb::Status& status);

}  // namespace internal

struct VectorIndex::Impl {
  std::string directory;
  std::string snapshot_dir;  // <directory>/hnsw
  IndexOptions options;
  IndexInfo info;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
  mutable std::shared_mutex mutex;
  mutable std::unordered_map<std::string, std::unique_ptr<internal::PartitionState>> partitions;

  internal::HnswParams params() const;
  // The user's partition, loaded (snapshot + replay, or rebuild) if it is not in memory yet.
  // Requires `mutex` held exclusively.
  Expected<internal::PartitionState*> load_partition(const std::string& user) const;
  // Writes the partition's snapshot and records it. Requires `mutex` held exclusively.
  Expected<void> snapshot_partition(const std::string& user, internal::PartitionState& state) const;
  // Finds the user's partition under a shared lock, loading it first if needed (the lock is
  // released and retaken around the load).
  Expected<internal::PartitionState*> find_for_read(const std::string& user, std::shared_lock<std::shared_mutex>& lock) const;
};

}  // namespace loomflow::retrieval
