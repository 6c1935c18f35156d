#include "loomflow/cluster/auth.hpp"

#include <array>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace loomflow::cluster {

namespace {

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xF];
  }
  return out;
}

}  // namespace

std::string make_nonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return {};  // no nonce: the peer refuses
  return hex(bytes.data(), bytes.size());
}

std::string make_proof(std::string_view secret, std::string_view label, std::string_view a, std::string_view b,
                       std::string_view c) {
  if (secret.empty()) return {};
  std::string text;
  for (auto part : {label, a, b, c}) {
    text.append(part);
    text.push_back('\0');
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), mac.data(), &size);
  return hex(mac.data(), size);
}

bool proof_matches(std::string_view expected, std::string_view received) noexcept {
  if (expected.size() != received.size()) return false;
  if (expected.empty()) return true;
  return CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

}  // namespace loomflow::cluster
