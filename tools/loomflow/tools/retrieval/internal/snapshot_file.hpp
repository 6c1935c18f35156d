// internal/snapshot_file.hpp — durable snapshot files of the HNSW graphs: written to a temporary
// name, fsynced, checksummed, renamed into place and the directory fsynced, so a snapshot file is
// either whole or absent; its size and checksum are recorded in RocksDB and verified on load.
// Thread-safety: free functions; callers serialise writes to one path.
#pragma once

#include <cstdint>
#include <string>

#include "loomflow/error.hpp"
#include "loomflow/tools/retrieval/internal/hnsw_partition.hpp"

namespace loomflow::retrieval::internal {

struct FileStamp {
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
};

// Writes `graph` to `path` atomically and durably; returns what verify_file will check.
Expected<FileStamp> write_snapshot(const HnswPartition& graph, const std::string& path);
// Succeeds when `path` exists with exactly `stamp`'s size and checksum.
Expected<void> verify_file(const std::string& path, const FileStamp& stamp);
// A 64-bit checksum of a file's bytes.
Expected<FileStamp> stamp_file(const std::string& path);

}  // namespace loomflow::retrieval::internal
