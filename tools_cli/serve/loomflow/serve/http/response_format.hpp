// loomflow/serve/http/response_format.hpp — the bytes of response heads and of the JSON errors the
// server answers by itself.
// Thread-safety: pure functions (the Date comes from the system clock).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve::http {

// "OK", "Not Found", ...; "Unknown" for statuses without a registered phrase.
std::string_view reason_phrase(int status) noexcept;

// IMF-fixdate of now, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7).
std::string http_date_now();

// How the body after a head is delimited.
enum class BodyFraming { content_length, chunked, until_close };

struct HeadOptions {
  BodyFraming framing = BodyFraming::content_length;
  std::size_t content_length = 0;   // with BodyFraming::content_length
  bool close = false;               // adds "Connection: close"
  bool keep_alive_header = false;   // adds "Connection: keep-alive" (HTTP/1.0 clients need it)
};

// True when `headers` hold "Connection: close" (the caller asks to close after this response).
bool asks_to_close(const Headers& headers);

// Status line and headers ending in the blank line. The caller's Content-Length,
// Transfer-Encoding and Connection headers are replaced by the server's own; a Date is added
// unless present; CR and LF inside names or values become spaces (no response splitting).
std::string format_head(int status, const Headers& headers, const HeadOptions& options);

// Statuses whose responses never carry a body (RFC 9110 §6.4.1): 1xx, 204, 304.
bool status_has_no_body(int status) noexcept;

// {"error":{"message":...,"type":...,"code":...}}
std::string json_error_body(std::string_view message, std::string_view code,
                            std::string_view type = "invalid_request_error");

// A whole JSON error response, with Connection: close when `close`.
std::string format_error_response(int status, std::string_view code, std::string_view message, bool close,
                                  std::string_view type = "invalid_request_error");

}  // namespace loomflow::serve::http
