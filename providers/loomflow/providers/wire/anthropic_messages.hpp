// loomflow/providers/wire/anthropic_messages.hpp — the Anthropic Messages API wire codec: request
// bodies for POST {base}/v1/messages, 200 response bodies, streamed responses (SSE events) and
// error bodies, converted to and from Loomflow's ModelRequest / ModelResponse. Pure functions: no
// network I/O, no headers (the transport adds `anthropic-version`, the key and retries).
//
// Mapping (see shared/fixtures/providers/README.md for the recorded wire formats):
// - System messages are joined ("\n\n") into the top-level "system" string; user, assistant and
//   tool messages become "messages" turns of content blocks. Tool results travel as `tool_result`
//   blocks of a user turn; consecutive turns of the same wire role are merged into one, so the
//   results of one assistant turn share one user message (the API wants alternating roles).
// - Structured output (ModelRequest::output_schema non-empty) is a strict tool named
//   "structured_output" whose input is the answer; the parsers turn that tool call back into the
//   message text.
// - finish_reason is normalized: end_turn/stop_sequence -> "stop", tool_use -> "tool_calls",
//   max_tokens/model_context_window_exceeded -> "length", refusal -> "refusal"; others -> "".
// - Usage: input_tokens counts every prompt token (input + cache writes + cache reads);
//   cached_input_tokens counts cache reads.
// Errors name the provider label given by the caller. Bad requests are `invalid_argument`; unusable
// responses are `model_error`; overload, rate-limit and server errors reported inside a stream are
// `unavailable` (retryable). No exception of the JSON library escapes these functions.
// Thread-safety: the free functions are reentrant; an accumulator serves one stream on one thread
// at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "loomflow/error.hpp"
#include "loomflow/provider.hpp"
#include "loomflow/providers/wire/sse.hpp"

namespace loomflow::providers::wire::anthropic {

// The name of the tool that carries structured output (reserved: a request tool may not use it).
inline constexpr std::string_view kStructuredOutputTool = "structured_output";

struct MessagesOptions {
  int max_tokens = 4096;              // required by the API; must be > 0
  std::optional<double> temperature;  // omitted when unset
  bool stream = false;                // true adds "stream": true
  // "" omits tool_choice (but see structured output below) | "auto" | "any" | "none" | a tool name
  // -> {"type":"tool","name":...} (the name must be one of the request's tools).
  std::string tool_choice;
};

// The JSON body of POST {base}/v1/messages.
// - User/assistant turns become {"role", "content": [blocks]}: text -> {"type":"text","text"} (empty
//   text is left out); assistant tool calls -> {"type":"tool_use","id","name","input": <arguments
//   parsed as a JSON object>; empty arguments mean {}}; tool results -> a user turn with
//   {"type":"tool_result","tool_use_id","content": text, "is_error": true only when set}.
// - Tools: {"name","description" (omitted when empty),"input_schema"} ({"type":"object"} when the
//   schema is empty).
// - Structured output: a tool {"name":"structured_output","description","input_schema": schema,
//   "strict": true}; unless options.tool_choice is set, tool_choice is
//   {"type":"tool","name":"structured_output"} when it is the only tool, and {"type":"any"} when the
//   request has other tools (the model must either call a tool or give the answer).
// Errors (invalid_argument): max_tokens <= 0, empty model, no messages, a schema that is not JSON,
// arguments that are not a JSON object (naming the tool call), a tool result without its call id,
// a tool named "structured_output" together with output_schema, a tool_choice naming no tool.
Expected<std::string> build_messages_request(const ModelRequest& request, const MessagesOptions& options);

// A non-streaming 200 body -> ModelResponse: text blocks concatenated into message.content,
// tool_use blocks -> ToolCall{id, name, arguments = input.dump()} in order, other block types
// (thinking, server tools) ignored. With `structured_output`, a tool_use named "structured_output"
// becomes the message text (input.dump(), replacing any text blocks) and is not a tool call;
// finish_reason is then "stop" unless other tool calls remain. On stop_reason "refusal" the text
// moves to `refusal` and message.content is empty. A body of type "error" is turned into an Error
// as a stream error event would be.
Expected<ModelResponse> parse_messages_response(std::string_view body, const std::string& provider_label,
                                                bool structured_output = false);

// Assembles a streamed response from its SSE events, in order. Feed every event to on_event(); after
// the body ended, finish() gives the response (the same one parse_messages_response would give for
// the equivalent non-streaming body; tool arguments are re-serialized compactly).
class MessagesStreamAccumulator {
 public:
  explicit MessagesStreamAccumulator(std::string provider_label, bool structured_output = false);

  // Called with each text delta as it arrives; may be left empty. With structured output the answer
  // arrives as tool input, not text, so it is not passed here.
  std::function<void(std::string_view)> on_text;

  // Handles one event: message_start (usage), content_block_start (text | tool_use with id/name),
  // content_block_delta (text_delta; input_json_delta partial_json concatenated per block index),
  // content_block_stop (a tool_use block's JSON must parse, else model_error naming the block and
  // the tool), message_delta (stop_reason, usage), message_stop, ping (ignored), error (code
  // unavailable for overloaded_error / rate_limit_error / api_error, else model_error; the message
  // holds error.type and error.message). Unknown event types, events without an `event:` name (as
  // the official SDK does) and events after message_stop are ignored. A payload that is not JSON is
  // a model_error naming the event. After an error every later call returns that same error.
  Expected<void> on_event(const SseEvent& event);

  // True once message_stop was seen.
  bool done() const noexcept { return done_; }

  // The assembled response. Errors: the stream's error event; a tool_use block never closed whose
  // JSON is incomplete (model_error naming the tool; when stop_reason is max_tokens it says the
  // output hit max_tokens); a stream that ended without message_stop ("truncated stream",
  // unavailable: the connection most likely dropped).
  Expected<ModelResponse> finish();

 private:
  struct Block {
    std::string type;       // "text", "tool_use" or another (ignored) block type
    std::string text;       // text blocks
    std::string id, name;   // tool_use blocks
    std::string json;       // tool_use: partial_json pieces, concatenated
    std::string arguments;  // tool_use: compact JSON of the input (the start's, then the pieces')
    bool stopped = false;
  };
  Expected<void> handle(const std::string& type, std::string_view data);
  Expected<void> fail(Error error);

  std::string label_;
  bool structured_ = false;
  std::map<long long, Block> blocks_;  // by the event's "index"
  std::string stop_reason_;
  // Usage as the API counts it; message_start sets it, message_delta overrides what it carries.
  std::uint64_t input_tokens_ = 0, cache_creation_tokens_ = 0, cache_read_tokens_ = 0, output_tokens_ = 0;
  bool done_ = false;
  std::optional<Error> error_;
};

// An error response of the API: status, error.type, error.message and the body's request_id.
struct ApiError {
  int status = 0;
  std::string type;
  std::string message;
  std::string request_id;
};

// Reads {"type":"error","error":{"type","message"},"request_id"}. Tolerant: a body that is not JSON
// (or not of that shape) keeps `type` empty and uses the body text (trimmed, at most 1000 bytes)
// as the message.
ApiError parse_error_body(int status, std::string_view body);

}  // namespace loomflow::providers::wire::anthropic
