// VectorIndex: opening, adding and removing sources, checkpoints. Queries: vector_index_query.cpp;
// loading partitions and snapshots: internal/partitions.cpp.
#include "loomflow/tools/retrieval/vector_index.hpp"

#include <cmath>
#include <filesystem>

#include <rocksdb/write_batch.h>

#include "loomflow/tools/retrieval/internal/index_impl.hpp"

namespace loomflow::retrieval {

using namespace internal;

namespace {

Expected<std::unique_ptr<rocksdb::DB>> open_db(const std::string& path, bool create) {
  rocksdb::Options options;
  options.create_if_missing = create;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return storage_error("opening " + path, s);
  return std::unique_ptr<rocksdb::DB>(raw);
}

Expected<std::optional<IndexMeta>> read_meta(rocksdb::DB& db) {
  std::string value;
  auto s = db.Get(rocksdb::ReadOptions(), kMetaKey, &value);
  if (s.IsNotFound()) return std::optional<IndexMeta>();
  if (!s.ok()) return storage_error("reading the meta record", s);
  auto meta = decode_meta(value);
  if (!meta) return meta.error();
  if (meta->format != kFormatVersion)
    return Error{ErrorCode::invalid_argument, "vector index: format version " + std::to_string(meta->format) +
                                                  " is not supported (this build reads version " +
                                                  std::to_string(kFormatVersion) + ")"};
  return std::optional<IndexMeta>(std::move(*meta));
}

void normalise(Vector& v) {
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm <= 0) return;
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
}

}  // namespace

VectorIndex::VectorIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VectorIndex::~VectorIndex() {
  if (impl_ && impl_->options.snapshot_on_close) (void)checkpoint();
}

const IndexInfo& VectorIndex::info() const noexcept { return impl_->info; }
const std::string& VectorIndex::directory() const noexcept { return impl_->directory; }

Expected<std::shared_ptr<VectorIndex>> VectorIndex::open(const std::string& directory, IndexOptions options) {
  const std::string db_path = directory + "/db";
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) {
    if (!options.create_if_missing)
      return Error{ErrorCode::invalid_argument, "vector index: " + directory + " holds no index"};
    if (options.embedder.empty() || options.dimension == 0)
      return Error{ErrorCode::invalid_argument, "vector index: creating " + directory +
                                                    " needs the embedder's name and dimension"};
    std::filesystem::create_directories(directory, ec);
    if (ec) return Error{ErrorCode::journal_error, "vector index: creating " + directory + ": " + ec.message()};
  }
  auto db = open_db(db_path, options.create_if_missing);
  if (!db) return db.error();
  auto meta = read_meta(**db);
  if (!meta) return meta.error();
  auto impl = std::make_unique<Impl>();
  if (*meta) {
    const auto& m = **meta;
    if ((!options.embedder.empty() && options.embedder != m.embedder) ||
        (options.dimension != 0 && options.dimension != m.dimension))
      return Error{ErrorCode::invalid_argument,
                   "vector index " + directory + " was built with embedder '" + m.embedder + "' (" +
                       std::to_string(m.dimension) + " dimensions), not '" +
                       (options.embedder.empty() ? m.embedder : options.embedder) + "' (" +
                       std::to_string(options.dimension != 0 ? options.dimension : m.dimension) +
                       " dimensions): query it with the same embedder, or build a new index"};
    impl->info = IndexInfo{m.embedder, m.dimension, m.format};
  } else {
    if (options.embedder.empty() || options.dimension == 0)
      return Error{ErrorCode::invalid_argument, "vector index: " + directory +
                                                    " holds no index yet: creating one needs the embedder's name and dimension"};
    IndexMeta m{kFormatVersion, options.embedder, options.dimension};
    rocksdb::WriteOptions synced;
    synced.sync = true;
    if (auto s = (*db)->Put(synced, kMetaKey, encode_meta(m)); !s.ok()) return storage_error("writing the meta record", s);
    impl->info = IndexInfo{m.embedder, m.dimension, m.format};
  }
  impl->directory = directory;
  impl->snapshot_dir = directory + "/hnsw";
  impl->options = std::move(options);
  impl->db = std::move(*db);
  impl->write_options.sync = impl->options.sync;
  return std::make_shared<VectorIndex>(std::move(impl));
}

Expected<IndexInfo> VectorIndex::read_info(const std::string& directory) {
  rocksdb::Options options;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(options, directory + "/db", &raw);
  if (!s.ok()) return Error{ErrorCode::invalid_argument, "vector index: " + directory + " holds no index (" + s.ToString() + ")"};
  std::unique_ptr<rocksdb::DB> db(raw);
  auto meta = read_meta(*db);
  if (!meta) return meta.error();
  if (!*meta) return Error{ErrorCode::invalid_argument, "vector index: " + directory + " holds no index"};
  return IndexInfo{(*meta)->embedder, (*meta)->dimension, (*meta)->format};
}

Expected<AddResult> VectorIndex::add(const UserId& user_id, const std::string& source, const std::vector<Chunk>& chunks,
                                     const std::vector<Vector>& vectors) {
  const std::string& user = user_id.str();
  const std::size_t dim = impl_->info.dimension;
  if (chunks.size() != vectors.size())
    return Error{ErrorCode::invalid_argument, "vector index: " + std::to_string(chunks.size()) + " chunks but " +
                                                  std::to_string(vectors.size()) + " vectors for source '" + source + "'"};
  std::vector<float> rows;
  rows.reserve(chunks.size() * dim);
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    if (vectors[i].size() != dim)
      return Error{ErrorCode::invalid_argument, "vector index: vector " + std::to_string(i) + " of source '" + source +
                                                    "' has " + std::to_string(vectors[i].size()) + " numbers, the index holds " +
                                                    std::to_string(dim) + " (embedder '" + impl_->info.embedder + "')"};
    Vector unit = vectors[i];
    normalise(unit);
    rows.insert(rows.end(), unit.begin(), unit.end());
  }

  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  auto loaded = impl_->load_partition(user);
  if (!loaded) return loaded.error();
  PartitionState& state = **loaded;

  std::string old_value;
  auto s = impl_->db->Get(rocksdb::ReadOptions(), source_key(user, source), &old_value);
  if (!s.ok() && !s.IsNotFound()) return storage_error("reading source '" + source + "'", s);
  const auto old_labels = s.ok() ? decode_labels(old_value) : std::vector<std::uint64_t>();

  PartitionRecord record = state.record;
  rocksdb::WriteBatch batch;
  for (auto label : old_labels) {
    batch.Delete(chunk_key(user, label));
    batch.Delete(vector_key(user, label));
  }
  if (!old_labels.empty()) batch.Put(tombstone_key(user, record.next_op++), encode_labels(old_labels));
  std::vector<std::uint64_t> labels;
  labels.reserve(chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const std::uint64_t label = record.next_label++;
    labels.push_back(label);
    const auto& c = chunks[i];
    batch.Put(chunk_key(user, label), encode_chunk(ChunkRecord{source, c.index, c.begin, c.end, c.text}));
    batch.Put(vector_key(user, label),
              encode_vector(std::vector<float>(rows.begin() + static_cast<std::ptrdiff_t>(i * dim),
                                               rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim))));
  }
  if (labels.empty())
    batch.Delete(source_key(user, source));
  else
    batch.Put(source_key(user, source), encode_labels(labels));
  batch.Put(partition_key(user), encode_partition(record));
  if (auto w = impl_->db->Write(impl_->write_options, &batch); !w.ok())
    return storage_error("writing source '" + source + "' of user '" + user + "'", w);
  state.record = record;

  // Committed: now the graph. Should that fail, drop the partition so the next use rebuilds it.
  auto fail = [&](Error e) {
    impl_->partitions.erase(user);
    return e;
  };
  if (!labels.empty() && !state.graph) {
    auto created = HnswPartition::create(impl_->params());
    if (!created) return fail(created.error());
    state.graph = std::move(*created);
  }
  if (state.graph)
    for (auto label : old_labels) state.graph->mark_deleted(label);
  if (!labels.empty())
    if (auto added = state.graph->add(labels, rows); !added) return fail(added.error());
  state.dirty = state.dirty || !labels.empty() || !old_labels.empty();
  state.added_since_snapshot += labels.size();
  if (state.graph) {
    state.stats.chunks = state.graph->live();
    state.stats.capacity = state.graph->capacity();
  }
  const std::size_t every = impl_->options.snapshot_every;
  if (every != 0 && state.added_since_snapshot >= every)
    if (auto snap = impl_->snapshot_partition(user, state); !snap) return snap.error();
  return AddResult{labels.size(), old_labels.size()};
}

Expected<std::size_t> VectorIndex::remove_source(const UserId& user, const std::string& source) {
  auto removed = add(user, source, {}, {});
  if (!removed) return removed.error();
  return removed->replaced;
}

Expected<void> VectorIndex::checkpoint() {
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  for (auto& [user, state] : impl_->partitions)
    if (auto snap = impl_->snapshot_partition(user, *state); !snap) return snap.error();
  return {};
}

Expected<AddResult> add_document(VectorIndex& index, Embedder& embedder, const UserId& user, std::string source,
                                 std::string_view text, const ChunkerOptions& chunking) {
  if (embedder.name() != index.info().embedder)
    return Error{ErrorCode::invalid_argument, "vector index " + index.directory() + " holds vectors of embedder '" +
                                                  index.info().embedder + "', not '" + embedder.name() + "'"};
  auto chunks = chunk_text(source, text, chunking);
  if (!chunks) return chunks.error();
  std::vector<std::string> texts;
  texts.reserve(chunks->size());
  for (const auto& c : *chunks) texts.push_back(c.text);
  auto vectors = embedder.embed(texts);
  if (!vectors) return vectors.error();
  return index.add(user, source, *chunks, *vectors);
}

}  // namespace loomflow::retrieval
