#include "loomflow/actors/journaling.hpp"

namespace loomflow::actors {

namespace {

// Length first, so that field boundaries are part of the digest ("ab","c" ≠ "a","bc").
std::uint64_t mix(std::uint64_t h, std::string_view field) {
  const std::string size = std::to_string(field.size()) + ":";
  return journal_digest(field, journal_digest(size, h));
}

}  // namespace

std::uint64_t request_digest(const ModelRequest& request) {
  std::uint64_t h = journal_digest("model-request/v1");
  for (const auto& m : request.messages.messages()) {
    h = mix(h, to_string(m.role));
    h = mix(h, m.content);
    for (const auto& call : m.tool_calls) {
      h = mix(h, call.id);
      h = mix(h, call.name);
      h = mix(h, call.arguments);
    }
    h = mix(h, m.tool_call_id);
    h = mix(h, m.is_error ? "error" : "ok");
  }
  for (const auto& tool : request.tools) h = mix(h, tool.name);
  return mix(h, request.output_schema);
}

}  // namespace loomflow::actors
