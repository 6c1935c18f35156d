// loomflow/detail/json_depth.hpp — guards against JSON nested so deeply that recursive code
// (nlohmann's copy and dump, schema walks) would overflow the stack. Untrusted JSON — model
// output, provider bodies, tool arguments — is checked before it is parsed or walked.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace loomflow::detail {

// The nesting Loomflow accepts in untrusted JSON.
constexpr int kMaxJsonDepth = 256;

// True when `text` nests arrays/objects deeper than `max_depth` (strings are skipped; the text need
// not be valid JSON). Linear and non-recursive.
bool json_text_too_deep(std::string_view text, int max_depth = kMaxJsonDepth);

// The same for a parsed value, without recursion.
bool json_too_deep(const nlohmann::json& value, int max_depth = kMaxJsonDepth);

}  // namespace loomflow::detail
