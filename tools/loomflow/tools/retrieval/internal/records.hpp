// internal/records.hpp — the RocksDB key layout and record encodings of the vector index.
//
//   "meta"                          → IndexMeta (JSON): format version, embedder, dimension, metric
//   "u" <user hex> "/p"             → PartitionRecord (JSON): label and op counters, snapshot file
//   "u" <user hex> "/c" <label BE8> → ChunkRecord (binary): source, chunk index, offsets, text
//   "u" <user hex> "/v" <label BE8> → the chunk's unit vector: `dimension` floats, little-endian
//   "u" <user hex> "/s" <source>    → the source's live labels, BE8 each
//   "u" <user hex> "/x" <op BE8>    → tombstone: labels (BE8 each) deleted by operation `op`
// The user id is hex-encoded, so one user's prefix is never a prefix of another's.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/detail/big_endian.hpp"
#include "loomflow/error.hpp"

namespace loomflow::retrieval::internal {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr const char* kMetaKey = "meta";

using loomflow::detail::be64;
using loomflow::detail::read_be64;
std::string hex(std::string_view bytes);

std::string user_prefix(const std::string& user);  // "u" <hex> "/"
std::string partition_key(const std::string& user);
std::string chunk_key(const std::string& user, std::uint64_t label);
std::string vector_key(const std::string& user, std::uint64_t label);
std::string source_key(const std::string& user, const std::string& source);
std::string tombstone_key(const std::string& user, std::uint64_t op);
std::string vector_prefix(const std::string& user);     // "u" <hex> "/v"
std::string tombstone_prefix(const std::string& user);  // "u" <hex> "/x"

struct IndexMeta {
  std::uint32_t format = kFormatVersion;
  std::string embedder;
  std::size_t dimension = 0;
};
std::string encode_meta(const IndexMeta& meta);
Expected<IndexMeta> decode_meta(std::string_view bytes);

struct SnapshotRef {
  std::string file;             // file name inside <index>/hnsw/
  std::uint64_t covers_label = 0;  // holds every chunk with a label below this
  std::uint64_t covers_op = 0;     // and every deletion by an operation below this
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
};

struct PartitionRecord {
  std::uint64_t next_label = 0;
  std::uint64_t next_op = 0;
  std::optional<SnapshotRef> snapshot;
};
std::string encode_partition(const PartitionRecord& record);
Expected<PartitionRecord> decode_partition(std::string_view bytes);

struct ChunkRecord {
  std::string source;
  std::uint64_t chunk_index = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::string text;
};
std::string encode_chunk(const ChunkRecord& record);
Expected<ChunkRecord> decode_chunk(std::string_view bytes);

std::string encode_vector(const std::vector<float>& v);
Expected<std::vector<float>> decode_vector(std::string_view bytes, std::size_t dimension);

std::string encode_labels(const std::vector<std::uint64_t>& labels);
std::vector<std::uint64_t> decode_labels(std::string_view bytes);

}  // namespace loomflow::retrieval::internal
