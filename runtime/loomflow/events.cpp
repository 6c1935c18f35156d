#include "loomflow/events.hpp"

#include <nlohmann/json.hpp>

#include "loomflow/usage_json.hpp"

namespace loomflow {

nlohmann::ordered_json usage_json(const Usage& u) {
  return {{"input_tokens", u.input_tokens},   {"output_tokens", u.output_tokens},
          {"cached_input_tokens", u.cached_input_tokens}, {"total_tokens", u.total_tokens()},
          {"model_calls", u.model_calls},     {"tool_calls", u.tool_calls},
          {"tool_errors", u.tool_errors},     {"cost_usd", u.cost_usd}};
}

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::run_started: return "run_started";
    case EventKind::run_finished: return "run_finished";
    case EventKind::node_entered: return "node_entered";
    case EventKind::node_left: return "node_left";
    case EventKind::text_delta: return "text_delta";
    case EventKind::tool_call_started: return "tool_call_started";
    case EventKind::tool_call_finished: return "tool_call_finished";
    case EventKind::structured_output: return "structured_output";
    case EventKind::error: return "error";
  }
  return "unknown";
}

namespace {

// `data` is JSON produced by us or validated before; anything else travels as a string.
nlohmann::ordered_json data_value(const std::string& data) {
  auto parsed = nlohmann::ordered_json::parse(data, nullptr, false);
  if (parsed.is_discarded()) return data;
  return parsed;
}

}  // namespace

std::string to_json(const RunEvent& e) {
  nlohmann::ordered_json j;
  j["seq"] = e.seq;
  j["type"] = to_string(e.kind);
  if (!e.path.empty()) j["path"] = e.path;
  if (!e.name.empty()) j["name"] = e.name;
  switch (e.kind) {
    case EventKind::run_started:
      break;
    case EventKind::text_delta:
      j["text"] = e.text;
      break;
    case EventKind::node_entered:
      break;
    case EventKind::tool_call_started:
      j["call_id"] = e.call_id;
      j["arguments"] = data_value(e.data.empty() ? "{}" : e.data);
      break;
    case EventKind::tool_call_finished:
      j["call_id"] = e.call_id;
      j["ok"] = e.ok;
      j["result"] = e.text;
      j["duration_us"] = e.duration_us;
      break;
    case EventKind::node_left:
      j["ok"] = e.ok;
      j[e.ok ? "output" : "error"] = e.text;
      j["duration_us"] = e.duration_us;
      j["usage"] = usage_json(e.usage);
      break;
    case EventKind::structured_output:
      j["output"] = data_value(e.data);
      break;
    case EventKind::error:
      j["message"] = e.text;
      if (!e.data.empty()) j["details"] = data_value(e.data);
      break;
    case EventKind::run_finished:
      j["ok"] = e.ok;
      if (e.ok) j["output"] = e.text;
      j["duration_us"] = e.duration_us;
      j["usage"] = usage_json(e.usage);
      break;
  }
  if (e.replayed) j["replayed"] = true;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace loomflow
