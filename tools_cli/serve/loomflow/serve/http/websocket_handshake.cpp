#include "loomflow/serve/http/websocket_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>

#include "loomflow/serve/http/http_text.hpp"
#include "loomflow/serve/http/response_format.hpp"

namespace loomflow::serve::http {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// 16 bytes in base64 are 22 characters and "==".
bool is_base64_of_16_bytes(std::string_view key) noexcept {
  return key.size() == 24 && key.substr(22) == "==" &&
         std::all_of(key.begin(), key.begin() + 22, is_base64_char);
}

}  // namespace

std::string websocket_accept_key(std::string_view client_key) {
  const std::string input = std::string(client_key) + std::string(kWebSocketGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

bool is_websocket_upgrade_request(const Request& request, bool http11) {
  return http11 && request.method == "GET" && list_has_token(request.header("upgrade"), "websocket") &&
         list_has_token(request.header("connection"), "upgrade") &&
         request.header("sec-websocket-version") == "13" && is_base64_of_16_bytes(request.header("sec-websocket-key"));
}

std::string websocket_accept_response(std::string_view client_key) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  out += "Sec-WebSocket-Accept: " + websocket_accept_key(client_key) + "\r\n";
  out += "Date: " + http_date_now() + "\r\n\r\n";
  return out;
}

}  // namespace loomflow::serve::http
