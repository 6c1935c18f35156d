// loomflow/cluster/auth.hpp — the proofs of the join handshake (see protocol.hpp).
//
// With a secret, a proof is HMAC-SHA256(secret, label NUL a NUL b NUL c), hex; without one (a TLS
// or explicitly insecure cluster) every proof is empty and only an empty proof matches — so a node
// with a secret and one without refuse each other. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace loomflow::cluster {

// 16 random bytes, hex (OpenSSL's CSPRNG).
std::string make_nonce();

std::string make_proof(std::string_view secret, std::string_view label, std::string_view a, std::string_view b,
                       std::string_view c = {});

// Constant-time comparison of a received proof with the expected one.
bool proof_matches(std::string_view expected, std::string_view received) noexcept;

}  // namespace loomflow::cluster
