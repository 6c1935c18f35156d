// loomflow/serve/responses.hpp — the shapes `loomflow serve` answers with: JSON bodies, errors in
// the OpenAI error format ({"error": {"message", "type", "param", "code"}}), SSE frames.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "loomflow/events.hpp"
#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve {

http::Response json_response(int status, const nlohmann::ordered_json& body);
// `type`: "invalid_request_error", "authentication_error", "not_found_error", "server_error", ...
http::Response error_response(int status, const std::string& type, const std::string& code, const std::string& message,
                              const std::string& param = {});
// One SSE frame: "id: <seq>\nevent: <type>\ndata: <json>\n\n" (no id for synthetic events, seq 0).
std::string sse_frame(const RunEvent& event);
// The headers of an SSE response.
http::Headers sse_headers();

}  // namespace loomflow::serve
