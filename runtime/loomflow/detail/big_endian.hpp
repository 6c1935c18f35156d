// loomflow/detail/big_endian.hpp — 64-bit integers as 8 big-endian bytes, so that keys sort in
// numeric order in ordered stores (RocksDB journal steps, vector index labels).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loomflow::detail {

inline std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return out;
}

// The first 8 bytes of `s` (fewer: the bytes there are).
inline std::uint64_t read_be64(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace loomflow::detail
