// loomflow/detail/json_path.hpp — JSON paths as Loomflow's errors print them, rooted at "$":
// identifier keys as ".key", other keys as ["key"] (JSON-escaped), indices as "[3]".
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>

namespace loomflow::detail {

std::string json_key_path(const std::string& base, const std::string& key);
std::string json_index_path(const std::string& base, std::size_t index);

}  // namespace loomflow::detail
