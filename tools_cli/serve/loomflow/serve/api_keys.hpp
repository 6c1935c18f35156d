// loomflow/serve/api_keys.hpp — the API keys `loomflow serve` accepts, each mapped to the UserId
// its runs belong to. A run's user always comes from its key, never from the request body.
//
// Sources: a keys file (`--keys FILE`: one `KEY USER` per line; blank lines and lines starting
// with '#' ignored) and/or the environment (LOOMFLOW_API_KEYS="KEY=USER,KEY=USER"). Keys are kept
// only as SHA-256 digests and looked up by digest, so neither a memory dump nor the timing of a
// comparison gives a key away.
// Thread-safety: immutable after loading; lookups may run on any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"

namespace loomflow::serve {

class ApiKeys {
 public:
  // Reads a keys file. Errors name the file and line (a line without a user, a short key, a key
  // listed twice).
  static Expected<ApiKeys> from_file(const std::string& path);
  // Parses "KEY=USER,KEY=USER" (the LOOMFLOW_API_KEYS form).
  static Expected<ApiKeys> from_list(std::string_view list, const std::string& origin);

  // Adds the keys of `other`; a key in both is an error.
  Expected<void> merge(const ApiKeys& other);
  Expected<void> add(std::string_view key, std::string_view user, const std::string& where);

  // The user a key belongs to, or nothing for an unknown key.
  std::optional<UserId> user_for(std::string_view key) const;
  bool empty() const noexcept { return users_.empty(); }
  std::size_t size() const noexcept { return users_.size(); }

 private:
  std::unordered_map<std::string, std::string> users_;  // SHA-256 of the key -> user
};

// The bearer token of an `Authorization: Bearer TOKEN` header value, or empty.
std::string_view bearer_token(std::string_view authorization);

}  // namespace loomflow::serve
