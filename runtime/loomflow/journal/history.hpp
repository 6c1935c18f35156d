// loomflow/journal/history.hpp — the rules every backend shares for reading a session back: decode
// its records in commit order, drop a torn last record, refuse corruption anywhere else, and name
// the session and step in every error. Also the key checks every backend applies.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loomflow/journal.hpp"

namespace loomflow::journal {

// A step record as a backend stored it. The step name is stored beside the record (in the key or a
// column) so even a corrupt record can be named.
struct RawStep {
  std::uint64_t seq = 0;
  std::string step_name;
  std::string bytes;
};

// The decoded history, plus the raw record to delete when the tail was torn.
struct DecodedHistory {
  SessionHistory history;
  std::optional<RawStep> torn_tail;
};

Expected<DecodedHistory> decode_history(const SessionId& session, const std::optional<std::string>& info_bytes,
                                        std::vector<RawStep> raw);

// Session ids and step names become parts of keys: they must be non-empty, at most 512 bytes and
// free of NUL bytes. The error names the offending id.
Expected<void> check_key_part(std::string_view what, std::string_view value);

// Milliseconds since the Unix epoch, for session timestamps.
std::int64_t unix_ms_now() noexcept;

}  // namespace loomflow::journal
