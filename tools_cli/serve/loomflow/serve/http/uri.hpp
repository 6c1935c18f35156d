// loomflow/serve/http/uri.hpp — percent-decoding of request paths and query components.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "loomflow/error.hpp"

namespace loomflow::serve::http {

// Decodes %XX escapes of a request path ('+' stays '+'). An invalid escape or an encoded NUL
// (%00) is an error whose message quotes it: a NUL would truncate the path in C APIs behind us.
Expected<std::string> decode_path(std::string_view raw_path);

// Decodes one query-string name or value: '+' is a space, %XX escapes decoded; an invalid escape is
// kept literally (queries are read leniently, never rejected).
std::string decode_query_component(std::string_view raw);

}  // namespace loomflow::serve::http
