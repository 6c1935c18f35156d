#include "loomflow/error.hpp"

namespace loomflow {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::invalid_spec: return "invalid_spec";
    case ErrorCode::invalid_workflow: return "invalid_workflow";
    case ErrorCode::unknown_route_label: return "unknown_route_label";
    case ErrorCode::visit_cap_exceeded: return "visit_cap_exceeded";
    case ErrorCode::max_turns_exceeded: return "max_turns_exceeded";
    case ErrorCode::model_error: return "model_error";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::script_exhausted: return "script_exhausted";
    case ErrorCode::script_mismatch: return "script_mismatch";
    case ErrorCode::output_schema_violation: return "output_schema_violation";
    case ErrorCode::tool_error: return "tool_error";
    case ErrorCode::journal_error: return "journal_error";
    case ErrorCode::journal_corrupt: return "journal_corrupt";
    case ErrorCode::journal_divergence: return "journal_divergence";
    case ErrorCode::permission_denied: return "permission_denied";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::deadline_exceeded: return "deadline_exceeded";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out(to_string(code));
  out += ": ";
  out += message;
  return out;
}

bool is_retryable(ErrorCode code) noexcept {
  // Only transient failures are retried; providers map HTTP statuses onto `unavailable`.
  return code == ErrorCode::unavailable;
}

}  // namespace loomflow
