#include "loomflow/message.hpp"
#include "loomflow/provider.hpp"
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

Expected<ModelResponse> Provider::complete(const ModelRequest& request) {
  return Error{ErrorCode::model_error, std::string(name()) + " provider (model '" + request.model +
                                           "'): only asynchronous calls are supported"};
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
