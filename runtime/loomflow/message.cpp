#include "loomflow/message.hpp"
#include "loomflow/trace.hpp"

namespace loomflow {

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "unknown";
}

std::string_view to_string(StepKind kind) noexcept {
  switch (kind) {
    case StepKind::node: return "node";
    case StepKind::model: return "model";
    case StepKind::tool: return "tool";
  }
  return "unknown";
}

}  // namespace loomflow
