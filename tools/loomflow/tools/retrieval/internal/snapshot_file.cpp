#include "loomflow/tools/retrieval/internal/snapshot_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace loomflow::retrieval::internal {

namespace {

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error{ErrorCode::journal_error, "vector index: " + what + " " + path + ": " + std::strerror(err)};
}

Expected<void> fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return io_error("opening", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("syncing", path, err);
  return {};
}

}  // namespace

Expected<FileStamp> stamp_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return io_error("opening", path, errno);
  // FNV-1a over 8-byte words, then the tail bytes: fast, and any flipped bit changes it.
  std::uint64_t h = 1469598103934665603ULL;
  std::uint64_t total = 0;
  std::vector<char> buffer(1 << 20);
  std::size_t carry = 0;  // bytes of a partial word kept at the buffer's front
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data() + carry, buffer.size() - carry);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return io_error("reading", path, err);
    }
    total += static_cast<std::uint64_t>(n);
    const std::size_t have = carry + static_cast<std::size_t>(n);
    const std::size_t words = n == 0 ? 0 : have / 8;
    for (std::size_t i = 0; i < words; ++i) {
      std::uint64_t w = 0;
      std::memcpy(&w, buffer.data() + i * 8, 8);
      h = (h ^ w) * 1099511628211ULL;
    }
    if (n == 0) {
      for (std::size_t i = 0; i < have; ++i) h = (h ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
      break;
    }
    carry = have - words * 8;
    std::memmove(buffer.data(), buffer.data() + words * 8, carry);
  }
  ::close(fd);
  return FileStamp{total, h ^ total};
}

Expected<FileStamp> write_snapshot(const HnswPartition& graph, const std::string& path) {
  const std::string temp = path + ".tmp";
  if (auto saved = graph.save(temp); !saved) return saved.error();
  if (auto synced = fsync_path(temp, false); !synced) return synced.error();
  auto stamp = stamp_file(temp);
  if (!stamp) return stamp.error();
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return Error{ErrorCode::journal_error, "vector index: renaming " + temp + ": " + ec.message()};
  const auto dir = std::filesystem::path(path).parent_path().string();
  if (auto synced = fsync_path(dir, true); !synced) return synced.error();
  return stamp;
}

Expected<void> verify_file(const std::string& path, const FileStamp& stamp) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Error{ErrorCode::journal_corrupt, "vector index: snapshot " + path + ": " + ec.message()};
  if (size != stamp.bytes)
    return Error{ErrorCode::journal_corrupt, "vector index: snapshot " + path + " has " + std::to_string(size) +
                                                 " bytes, expected " + std::to_string(stamp.bytes)};
  auto actual = stamp_file(path);
  if (!actual) return actual.error();
  if (actual->checksum != stamp.checksum)
    return Error{ErrorCode::journal_corrupt, "vector index: snapshot " + path + " fails its checksum"};
  return {};
}

}  // namespace loomflow::retrieval::internal
