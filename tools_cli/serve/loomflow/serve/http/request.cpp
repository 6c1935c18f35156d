// Request's lookups: headers by lower-case name, query parameters by name.
#include "loomflow/serve/http/server.hpp"
#include "loomflow/serve/http/uri.hpp"

namespace loomflow::serve::http {

std::string Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

std::string Request::query_param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    if (decode_query_component(raw_name) == name) {
      return eq == std::string_view::npos ? std::string() : decode_query_component(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace loomflow::serve::http
