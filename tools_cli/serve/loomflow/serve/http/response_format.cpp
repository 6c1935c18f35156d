#include "loomflow/serve/http/response_format.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "loomflow/serve/http/http_text.hpp"

namespace loomflow::serve::http {
namespace {

void append_sanitized(std::string& out, std::string_view text) {
  for (char c : text) out += (c == '\r' || c == '\n') ? ' ' : c;
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string http_date_now() {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  // strftime's %a/%b follow the locale; the HTTP date is always English.
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday], utc.tm_mday,
                kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return buffer;
}

bool asks_to_close(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (iequals(name, "connection") && list_has_token(value, "close")) return true;
  }
  return false;
}

bool status_has_no_body(int status) noexcept { return (status >= 100 && status < 200) || status == 204 || status == 304; }

std::string format_head(int status, const Headers& headers, const HeadOptions& options) {
  std::string out;
  out.reserve(128 + headers.size() * 32);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  bool has_date = false;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection")) {
      continue;
    }
    has_date = has_date || iequals(name, "date");
    append_sanitized(out, name);
    out += ": ";
    append_sanitized(out, value);
    out += "\r\n";
  }
  if (!has_date) {
    out += "Date: ";
    out += http_date_now();
    out += "\r\n";
  }
  switch (options.framing) {
    case BodyFraming::content_length:
      if (!status_has_no_body(status)) {
        out += "Content-Length: ";
        out += std::to_string(options.content_length);
        out += "\r\n";
      }
      break;
    case BodyFraming::chunked:
      out += "Transfer-Encoding: chunked\r\n";
      break;
    case BodyFraming::until_close:
      break;
  }
  if (options.close) {
    out += "Connection: close\r\n";
  } else if (options.keep_alive_header) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

std::string json_error_body(std::string_view message, std::string_view code, std::string_view type) {
  const nlohmann::json body = {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
  // Messages may quote client bytes: replace invalid UTF-8 rather than throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string format_error_response(int status, std::string_view code, std::string_view message, bool close,
                                  std::string_view type) {
  const std::string body = json_error_body(message, code, type);
  HeadOptions options;
  options.content_length = body.size();
  options.close = close;
  return format_head(status, {{"Content-Type", "application/json"}}, options) + body;
}

}  // namespace loomflow::serve::http
