// loomflow/serve/http/websocket_handshake.hpp — the opening handshake of RFC 6455 §4.2: which
// requests are upgrades, and the 101 answer with its Sec-WebSocket-Accept.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve::http {

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string websocket_accept_key(std::string_view client_key);

// An HTTP/1.1 GET with Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Version: 13 and a
// Sec-WebSocket-Key that is the base64 of 16 bytes.
bool is_websocket_upgrade_request(const Request& request, bool http11);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept.
std::string websocket_accept_response(std::string_view client_key);

}  // namespace loomflow::serve::http
