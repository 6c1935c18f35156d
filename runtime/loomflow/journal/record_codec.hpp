// loomflow/journal/record_codec.hpp — how journal records look on disk: a Protobuf message (see
// journal.proto) behind a 4-byte little-endian CRC32C of its bytes. Backends store these bytes
// verbatim, so one decoder detects torn and corrupt records for every engine.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "loomflow/journal.hpp"

namespace loomflow::journal {

inline constexpr std::uint32_t kSchemaVersion = 1;

std::uint32_t crc32c(std::string_view data) noexcept;

std::string encode_step(const StepRecord& step);
std::string encode_session(const SessionInfo& session);

// Errors are journal_corrupt and say what is wrong (checksum, truncation, undecodable, newer
// schema); callers add the session and step.
Expected<StepRecord> decode_step(std::string_view bytes);
Expected<SessionInfo> decode_session(std::string_view bytes);

}  // namespace loomflow::journal
