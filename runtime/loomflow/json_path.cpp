#include "loomflow/detail/json_path.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace loomflow::detail {

std::string json_key_path(const std::string& base, const std::string& key) {
  auto word = [](char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  bool identifier = !key.empty() && word(key[0]) &&
                    std::all_of(key.begin(), key.end(), [&](char c) { return word(c) || (c >= '0' && c <= '9'); });
  if (identifier) return base + "." + key;
  // Invalid UTF-8 in a key is replaced, so the path itself stays printable JSON.
  return base + "[" + nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "]";
}

std::string json_index_path(const std::string& base, std::size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

}  // namespace loomflow::detail
