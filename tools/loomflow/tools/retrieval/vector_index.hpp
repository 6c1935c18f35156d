// loomflow/tools/retrieval/vector_index.hpp — `VectorIndex`: chunks and their vectors, stored
// persistently and searched approximately, one partition per UserId.
//
// Storage (a directory): RocksDB in <dir>/db is the source of truth — every chunk's text, source,
// offsets and unit vector, per user under its own key prefix, and a meta record naming the embedder
// and dimension the index was built with. Each add is one synced WriteBatch: committed or absent.
// Search runs on one hnswlib HNSW graph per user (cosine similarity on L2-normalised vectors), kept
// in memory and loaded lazily on a user's first use. Graphs are snapshotted to <dir>/hnsw/ (temp
// file + fsync + rename, then recorded with its checksum and the label/operation counters it covers);
// loading one replays the chunks added and removed after it, and a missing or corrupt snapshot means
// a rebuild from RocksDB — so a crash never loses a committed chunk, it only costs a longer open.
// Partitioning: a user's queries search only that user's graph; no call reaches another's chunks.
// Adding a source again replaces its chunks (the old ones are deleted and hidden from the graph).
// Thread-safety: all member functions may be called concurrently; queries run in parallel, adds,
// removals and checkpoints are serialised (a reader/writer lock). Calls block on disk I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"
#include "loomflow/tools/retrieval/chunker.hpp"
#include "loomflow/tools/retrieval/embedder.hpp"

namespace loomflow::retrieval {

struct IndexOptions {
  // The embedder whose vectors the index holds (Embedder::name()) and their dimension. A new index
  // records them; an existing one must match them. Empty / 0 (default): use what the index recorded
  // (then opening a directory that holds no index fails).
  std::string embedder;
  std::size_t dimension = 0;
  bool create_if_missing = true;    // create a new index in an empty or missing directory (default true)
  std::size_t M = 16;               // HNSW links per node (default 16); fixed when a user's graph is created
  std::size_t ef_construction = 100;  // HNSW candidate list while inserting (default 100)
  std::size_t ef_search = 64;       // HNSW candidate list while searching, at least k is used (default 64)
  std::size_t initial_capacity = 1024;  // vectors a user's new graph holds before growing (default 1024)
  double growth_factor = 2.0;       // capacity multiplier when a graph is full (default 2; resizeIndex)
  std::size_t build_threads = 0;    // threads inserting a large batch; 0 = hardware concurrency (default)
  bool sync = true;                 // fsync every add/remove (default true); false trades durability of
                                    // the last writes for speed (RocksDB's WAL is still written)
  bool snapshot_on_close = true;    // the destructor snapshots graphs changed since their last snapshot
  std::size_t snapshot_every = 50'000;  // also snapshot a user's graph once this many chunks were added
                                        // since its last snapshot; 0 = never automatically (default 50,000)
};

// What an index records about itself.
struct IndexInfo {
  std::string embedder;
  std::size_t dimension = 0;
  std::uint32_t format_version = 0;
};

struct ChunkHit {
  std::string source;
  std::size_t chunk_index = 0;
  std::size_t begin = 0;  // byte offsets of `text` in the source document
  std::size_t end = 0;
  float score = 0;        // cosine similarity, higher is nearer
  std::string text;
};

struct AddResult {
  std::size_t added = 0;     // chunks stored
  std::size_t replaced = 0;  // chunks of an earlier version of the source that were removed
};

// One user's partition as it is in memory (for tests and tools).
struct PartitionStats {
  std::size_t chunks = 0;          // searchable chunks
  std::size_t capacity = 0;        // graph slots before the next growth
  bool from_snapshot = false;      // the graph was loaded from a snapshot (else built from RocksDB)
  std::size_t replayed = 0;        // chunks and deletions applied on load after the snapshot
};

class VectorIndex {
 public:
  // Opens (or creates) the index in `directory`. Fails with invalid_argument when options.embedder
  // or options.dimension disagree with the recorded ones, naming both.
  static Expected<std::shared_ptr<VectorIndex>> open(const std::string& directory, IndexOptions options = {});
  // What the index in `directory` records, without opening it for writing.
  static Expected<IndexInfo> read_info(const std::string& directory);

  ~VectorIndex();  // snapshots changed graphs when options.snapshot_on_close (errors are dropped)
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  const IndexInfo& info() const noexcept;
  const std::string& directory() const noexcept;

  // Stores `chunks` of `source` with their `vectors` (one each, of the index's dimension; normalised
  // here), replacing whatever `source` held before. No chunks: the source is removed.
  Expected<AddResult> add(const UserId& user, const std::string& source, const std::vector<Chunk>& chunks,
                          const std::vector<Vector>& vectors);
  // Removes every chunk of `source`; returns how many there were.
  Expected<std::size_t> remove_source(const UserId& user, const std::string& source);

  // The (up to) k chunks nearest to `vector` in the user's partition, best first (approximate).
  Expected<std::vector<ChunkHit>> query(const UserId& user, const Vector& vector, std::size_t k) const;
  // Embeds `text` with `embedder` and queries; fails when the embedder is not the index's.
  Expected<std::vector<ChunkHit>> query(const UserId& user, Embedder& embedder, std::string_view text,
                                        std::size_t k) const;
  // Like query, but by brute force over all the user's vectors: exact, for measuring recall.
  Expected<std::vector<ChunkHit>> exact_query(const UserId& user, const Vector& vector, std::size_t k) const;

  Expected<PartitionStats> stats(const UserId& user) const;
  // Snapshots every graph changed since its last snapshot (the destructor does this too).
  Expected<void> checkpoint();

  struct Impl;
  explicit VectorIndex(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Chunks `text`, embeds the chunks with `embedder` and adds them under `source` (replacing it).
Expected<AddResult> add_document(VectorIndex& index, Embedder& embedder, const UserId& user, std::string source,
                                 std::string_view text, const ChunkerOptions& chunking = {});

}  // namespace loomflow::retrieval
