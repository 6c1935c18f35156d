// loomflow/tools/sandbox/text.hpp — text helpers for tool results, which travel to the model as
// JSON strings and so must be valid UTF-8. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "loomflow/detail/utf8.hpp"

namespace loomflow::tools::sandbox {

// True when the first 8 KiB contain a NUL byte.
bool looks_binary(std::string_view head) noexcept;

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
using loomflow::detail::valid_utf8;

// The largest prefix of `text` no longer than `max` that does not split a UTF-8 sequence.
std::size_t utf8_cut(std::string_view text, std::size_t max) noexcept;

}  // namespace loomflow::tools::sandbox
