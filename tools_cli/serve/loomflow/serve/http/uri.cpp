#include "loomflow/serve/http/uri.hpp"

namespace loomflow::serve::http {
namespace {

int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of the escape at raw[i] ('%' there), or -1 when it is not "%XX".
int escape_value(std::string_view raw, std::size_t i) noexcept {
  if (i + 2 >= raw.size()) return -1;
  const int high = hex_digit_value(raw[i + 1]);
  const int low = hex_digit_value(raw[i + 2]);
  return (high < 0 || low < 0) ? -1 : high * 16 + low;
}

}  // namespace

Expected<std::string> decode_path(std::string_view raw_path) {
  std::string out;
  out.reserve(raw_path.size());
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    if (raw_path[i] != '%') {
      out += raw_path[i];
      continue;
    }
    const int value = escape_value(raw_path, i);
    if (value < 0) {
      return Error{ErrorCode::invalid_argument,
                   "invalid percent-escape '" + std::string(raw_path.substr(i, 3)) + "' in the request path"};
    }
    if (value == 0) return Error{ErrorCode::invalid_argument, "the request path contains an encoded NUL byte (%00)"};
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::string decode_query_component(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && escape_value(raw, i) >= 0) {
      out += static_cast<char>(escape_value(raw, i));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace loomflow::serve::http
