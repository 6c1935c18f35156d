#include "loomflow/serve/responses.hpp"

namespace loomflow::serve {

http::Response json_response(int status, const nlohmann::ordered_json& body) {
  http::Response r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body += '\n';
  return r;
}

http::Response error_response(int status, const std::string& type, const std::string& code, const std::string& message,
                              const std::string& param) {
  nlohmann::ordered_json error = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}};
  if (!param.empty()) error["param"] = param;
  return json_response(status, {{"error", std::move(error)}});
}

std::string sse_frame(const RunEvent& event) {
  std::string frame;
  if (event.seq != 0) frame += "id: " + std::to_string(event.seq) + "\n";
  frame += "event: ";
  frame += to_string(event.kind);
  frame += "\ndata: ";
  frame += to_json(event);  // one line: JSON escapes every newline
  frame += "\n\n";
  return frame;
}

http::Headers sse_headers() {
  return {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
}

}  // namespace loomflow::serve
