// loomflow/detail/utf8.hpp — checking UTF-8 (WebSocket text frames) and making arbitrary bytes
// valid UTF-8, for text that ends up in JSON (error messages quoting raw input, tool results read
// from files).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace loomflow::detail {

// `text` with every invalid UTF-8 sequence (truncated, overlong, surrogate, above U+10FFFF)
// replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

// True when `text` is entirely valid UTF-8 by the same rules (no truncated, overlong, surrogate or
// above-U+10FFFF sequences).
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace loomflow::detail
