#include "loomflow/serve/api_keys.hpp"

#include <openssl/sha.h>

#include <fstream>

namespace loomflow::serve {

namespace {

std::string digest(std::string_view key) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

constexpr std::size_t kMinKeyLength = 16;

}  // namespace

Expected<void> ApiKeys::add(std::string_view key, std::string_view user, const std::string& where) {
  key = trim(key);
  user = trim(user);
  if (key.empty() || user.empty()) return Error{ErrorCode::invalid_argument, where + ": expected a key and a user"};
  if (key.size() < kMinKeyLength)
    return Error{ErrorCode::invalid_argument,
                 where + ": the key is shorter than " + std::to_string(kMinKeyLength) + " characters"};
  if (!users_.emplace(digest(key), std::string(user)).second)
    return Error{ErrorCode::invalid_argument, where + ": the key is listed twice"};
  return {};
}

Expected<ApiKeys> ApiKeys::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::invalid_argument, path + ": cannot read the keys file"};
  ApiKeys keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const auto space = text.find_first_of(" \t");
    const std::string where = path + ":" + std::to_string(number);
    if (space == std::string_view::npos)
      return Error{ErrorCode::invalid_argument, where + ": expected `KEY USER`"};
    if (auto ok = keys.add(text.substr(0, space), text.substr(space + 1), where); !ok) return ok.error();
  }
  return keys;
}

Expected<ApiKeys> ApiKeys::from_list(std::string_view list, const std::string& origin) {
  ApiKeys keys;
  std::size_t index = 0;
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    ++index;
    if (entry.empty()) continue;
    const std::string where = origin + " entry " + std::to_string(index);
    const auto equals = entry.rfind('=');
    if (equals == std::string_view::npos) return Error{ErrorCode::invalid_argument, where + ": expected KEY=USER"};
    if (auto ok = keys.add(entry.substr(0, equals), entry.substr(equals + 1), where); !ok) return ok.error();
  }
  return keys;
}

Expected<void> ApiKeys::merge(const ApiKeys& other) {
  for (const auto& [hash, user] : other.users_)
    if (!users_.emplace(hash, user).second)
      return Error{ErrorCode::invalid_argument, "a key for user '" + user + "' is given twice"};
  return {};
}

std::optional<UserId> ApiKeys::user_for(std::string_view key) const {
  if (key.empty()) return std::nullopt;
  auto it = users_.find(digest(key));
  if (it == users_.end()) return std::nullopt;
  return UserId{it->second};
}

std::string_view bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  return trim(authorization.substr(kScheme.size()));
}

}  // namespace loomflow::serve
