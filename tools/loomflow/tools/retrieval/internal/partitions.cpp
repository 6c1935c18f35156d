// Loading a user's partition into memory (snapshot + replay, or a rebuild from RocksDB) and
// writing its snapshot.
#include <algorithm>
#include <filesystem>
#include <thread>

#include <rocksdb/write_batch.h>

#include "loomflow/tools/retrieval/internal/index_impl.hpp"
#include "loomflow/tools/retrieval/internal/snapshot_file.hpp"

namespace loomflow::retrieval {

using namespace internal;

namespace internal {

Error storage_error(const std::string& what, const rocksdb::Status& status) {
  return Error{ErrorCode::journal_error, "vector index: " + what + ": " + status.ToString()};
}

}  // namespace internal

HnswParams VectorIndex::Impl::params() const {
  HnswParams p;
  p.dimension = info.dimension;
  p.M = options.M;
  p.ef_construction = options.ef_construction;
  p.ef_search = options.ef_search;
  p.initial_capacity = options.initial_capacity;
  p.growth_factor = options.growth_factor;
  p.threads = options.build_threads != 0 ? options.build_threads
                                         : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  return p;
}

Expected<PartitionState*> VectorIndex::Impl::load_partition(const std::string& user) const {
  if (auto it = partitions.find(user); it != partitions.end()) return it->second.get();
  auto state = std::make_unique<PartitionState>();
  std::string value;
  auto s = db->Get(rocksdb::ReadOptions(), partition_key(user), &value);
  if (!s.ok() && !s.IsNotFound()) return storage_error("reading the partition of user '" + user + "'", s);
  if (s.ok()) {
    auto record = decode_partition(value);
    if (!record) return record.error();
    state->record = std::move(*record);
  }
  std::uint64_t from_label = 0, from_op = 0;
  if (const auto& snap = state->record.snapshot) {
    const std::string path = snapshot_dir + "/" + snap->file;
    auto graph = verify_file(path, FileStamp{snap->bytes, snap->checksum});
    if (graph) {
      auto loaded = HnswPartition::load(path, params());
      if (loaded) {
        state->graph = std::move(*loaded);
        state->stats.from_snapshot = true;
        from_label = snap->covers_label;
        from_op = snap->covers_op;
      }
    }
  }
  // Replay: chunks added at or after `from_label` (all of them for a rebuild)...
  std::vector<std::uint64_t> labels;
  std::vector<float> rows;
  const std::string vprefix = vector_prefix(user);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(vprefix + be64(from_label)); it->Valid() && it->key().starts_with(vprefix); it->Next()) {
    auto v = decode_vector(it->value().ToStringView(), info.dimension);
    if (!v) return v.error();
    labels.push_back(read_be64(it->key().ToStringView().substr(vprefix.size())));
    rows.insert(rows.end(), v->begin(), v->end());
  }
  if (!it->status().ok()) return storage_error("reading the vectors of user '" + user + "'", it->status());
  if (!labels.empty() || state->graph == nullptr) {
    if (!state->graph && !labels.empty()) {
      auto p = params();
      p.initial_capacity = std::max(p.initial_capacity, labels.size());
      auto created = HnswPartition::create(p);
      if (!created) return created.error();
      state->graph = std::move(*created);
    }
    if (!labels.empty())
      if (auto added = state->graph->add(labels, rows); !added) return added.error();
  }
  state->stats.replayed = labels.size();
  // ...then deletions by operations at or after `from_op` (older ones are in the snapshot; on a
  // rebuild the deleted chunks were never read, so hiding finds nothing).
  if (state->stats.from_snapshot) {
    const std::string xprefix = tombstone_prefix(user);
    for (it->Seek(xprefix + be64(from_op)); it->Valid() && it->key().starts_with(xprefix); it->Next())
      for (auto label : decode_labels(it->value().ToStringView()))
        if (state->graph->mark_deleted(label)) ++state->stats.replayed;
    if (!it->status().ok()) return storage_error("reading the deletions of user '" + user + "'", it->status());
  }
  state->dirty = state->stats.replayed > 0 || (state->graph && !state->stats.from_snapshot);
  state->added_since_snapshot = labels.size();
  if (state->graph) {
    state->stats.chunks = state->graph->live();
    state->stats.capacity = state->graph->capacity();
  }
  auto* raw = state.get();
  partitions[user] = std::move(state);
  return raw;
}

Expected<PartitionState*> VectorIndex::Impl::find_for_read(const std::string& user,
                                                           std::shared_lock<std::shared_mutex>& lock) const {
  if (auto it = partitions.find(user); it != partitions.end()) return it->second.get();
  lock.unlock();
  {
    std::unique_lock<std::shared_mutex> writer(mutex);
    auto loaded = load_partition(user);
    if (!loaded) {
      lock.lock();
      return loaded.error();
    }
  }
  lock.lock();
  auto it = partitions.find(user);  // partitions are never dropped while the index is open
  if (it == partitions.end()) return Error{ErrorCode::internal, "vector index: a loaded partition vanished"};
  return it->second.get();
}

Expected<void> VectorIndex::Impl::snapshot_partition(const std::string& user, PartitionState& state) const {
  if (!state.graph || !state.dirty) return {};
  std::error_code ec;
  std::filesystem::create_directories(snapshot_dir, ec);
  if (ec) return Error{ErrorCode::journal_error, "vector index: creating " + snapshot_dir + ": " + ec.message()};
  const auto& r = state.record;
  const std::string file = "u" + hex(user) + "-" + std::to_string(r.next_label) + "-" + std::to_string(r.next_op) + ".hnsw";
  auto stamp = write_snapshot(*state.graph, snapshot_dir + "/" + file);
  if (!stamp) return stamp.error();
  PartitionRecord updated = r;
  updated.snapshot = SnapshotRef{file, r.next_label, r.next_op, stamp->bytes, stamp->checksum};
  rocksdb::WriteBatch batch;
  batch.Put(partition_key(user), encode_partition(updated));
  // Deletions the snapshot covers are no longer needed for replay.
  const std::string xprefix = tombstone_prefix(user);
  batch.DeleteRange(xprefix, xprefix + be64(r.next_op));
  rocksdb::WriteOptions synced;
  synced.sync = true;
  if (auto s = db->Write(synced, &batch); !s.ok()) return storage_error("recording the snapshot of user '" + user + "'", s);
  const auto old = r.snapshot ? r.snapshot->file : std::string();
  state.record = std::move(updated);
  state.dirty = false;
  state.added_since_snapshot = 0;
  if (!old.empty() && old != file) std::filesystem::remove(snapshot_dir + "/" + old, ec);
  return {};
}

}  // namespace loomflow::retrieval
