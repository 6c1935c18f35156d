// loomflow/message.hpp — the conversation vocabulary shared by agents and providers: chat messages,
// tool calls, conversations and token usage. Thread-safety: value types (see Conversation).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loomflow {

enum class Role : std::uint8_t { system, user, assistant, tool };
std::string_view to_string(Role role) noexcept;

// One tool call requested by the model. `arguments` is the JSON text the model produced (it may be
// malformed: validating it is the tool's job, and a bad one goes back to the model as an error).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
  friend bool operator==(const ToolCall&, const ToolCall&) = default;
};

struct Message {
  Role role = Role::user;
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages only
  std::string tool_call_id;          // tool messages only: the call this result answers
  std::string name;                  // tool messages: the tool's name
  bool is_error = false;             // tool messages: the result is an error the model may correct
  friend bool operator==(const Message&, const Message&) = default;

  static Message system(std::string text) { return Message{Role::system, std::move(text), {}, {}, {}, false}; }
  static Message user(std::string text) { return Message{Role::user, std::move(text), {}, {}, {}, false}; }
  static Message assistant(std::string text, std::vector<ToolCall> calls = {}) {
    return Message{Role::assistant, std::move(text), std::move(calls), {}, {}, false};
  }
  static Message tool_result(std::string call_id, std::string tool_name, std::string text, bool error = false) {
    return Message{Role::tool, std::move(text), {}, std::move(call_id), std::move(tool_name), error};
  }
};

// A conversation shared by snapshot: copying one is O(1), so every model call of an agent sees the
// whole history without copying it (a copy per turn would make a run quadratic in its length).
// Appending to a conversation whose storage other copies still share copies the storage first
// (copy-on-write). A copy handed to another thread is an immutable snapshot; only its owner appends.
class Conversation {
 public:
  using const_iterator = std::vector<Message>::const_iterator;
  using const_reverse_iterator = std::vector<Message>::const_reverse_iterator;

  Conversation() = default;
  Conversation(std::initializer_list<Message> messages) : Conversation(std::vector<Message>(messages)) {}
  explicit Conversation(std::vector<Message> messages);

  void push_back(Message message);
  // The messages as a vector: moved out when this is the only copy, else copied. Leaves this empty.
  std::vector<Message> release();

  const std::vector<Message>& messages() const noexcept;
  std::size_t size() const noexcept { return messages().size(); }
  bool empty() const noexcept { return messages().empty(); }
  const Message& operator[](std::size_t i) const { return messages()[i]; }
  const Message& front() const { return messages().front(); }
  const Message& back() const { return messages().back(); }
  const_iterator begin() const noexcept { return messages().begin(); }
  const_iterator end() const noexcept { return messages().end(); }
  const_reverse_iterator rbegin() const noexcept { return messages().rbegin(); }
  const_reverse_iterator rend() const noexcept { return messages().rend(); }

  friend bool operator==(const Conversation& a, const Conversation& b) { return a.messages() == b.messages(); }

 private:
  std::shared_ptr<std::vector<Message>> messages_;  // null while empty
};

// Token usage, summed over every model call of a run (nested agents included).
struct Usage {
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  std::uint64_t cached_input_tokens = 0;
  std::uint64_t model_calls = 0;
  std::uint64_t tool_calls = 0;
  std::uint64_t tool_errors = 0;  // tool calls whose result went back to the model as an error
  double cost_usd = 0;            // from the provider's price table; 0 when the model has no price

  Usage& operator+=(const Usage& other) noexcept {
    input_tokens += other.input_tokens;
    output_tokens += other.output_tokens;
    cached_input_tokens += other.cached_input_tokens;
    model_calls += other.model_calls;
    tool_calls += other.tool_calls;
    tool_errors += other.tool_errors;
    cost_usd += other.cost_usd;
    return *this;
  }
  std::uint64_t total_tokens() const noexcept { return input_tokens + output_tokens; }
  friend bool operator==(const Usage&, const Usage&) = default;
};

}  // namespace loomflow
