#include "loomflow/message.hpp"

#include <atomic>
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

Conversation::Conversation(std::vector<Message> messages)
    : messages_(messages.empty() ? nullptr : std::make_shared<std::vector<Message>>(std::move(messages))) {}

const std::vector<Message>& Conversation::messages() const noexcept {
  static const std::vector<Message> kEmpty;
  return messages_ ? *messages_ : kEmpty;
}

void Conversation::push_back(Message message) {
  if (!messages_) {
    messages_ = std::make_shared<std::vector<Message>>();
  } else if (messages_.use_count() > 1) {
    messages_ = std::make_shared<std::vector<Message>>(*messages_);
  } else {
    // Sole owner: readers that held snapshots are done (their release pairs with this acquire).
    std::atomic_thread_fence(std::memory_order_acquire);
  }
  messages_->push_back(std::move(message));
}

std::vector<Message> Conversation::release() {
  std::vector<Message> out;
  if (messages_) {
    if (messages_.use_count() == 1) {
      std::atomic_thread_fence(std::memory_order_acquire);
      out = std::move(*messages_);
    } else {
      out = *messages_;
    }
  }
  messages_.reset();
  return out;
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
