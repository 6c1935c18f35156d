// loomflow/providers/wire/openai_chat.hpp — the OpenAI Chat Completions wire codec: request bodies
// for POST {base}/chat/completions, 200 response bodies, streamed responses (SSE events) and error
// bodies, converted to and from Loomflow's ModelRequest / ModelResponse. Pure functions: no
// network I/O, no headers (the transport adds the key and decides retries). Works with
// OpenAI-compatible servers (vLLM, Ollama, LiteLLM) as far as they follow the same shapes.
//
// Mapping (see shared/fixtures/providers/README.md for the recorded wire formats):
// - Messages keep their order and role: system, user, assistant (with "tool_calls"), tool.
// - Structured output (ModelRequest::output_schema non-empty) is a strict "json_schema"
//   response_format named "output"; the answer arrives as the message text.
// - finish_reason is normalized: stop, tool_calls (also the legacy function_call, and "stop" when
//   the message carries tool calls, as the API answers a forced tool_choice), length,
//   content_filter; a refusal makes it "refusal"; anything else (or none) -> "".
// - Usage: prompt_tokens -> input_tokens, completion_tokens -> output_tokens,
//   prompt_tokens_details.cached_tokens -> cached_input_tokens; missing numbers count 0.
// - A tool call without an id (some compatible servers) gets "call_<index>".
// Errors name the provider label given by the caller. Bad requests are `invalid_argument`; unusable
// responses (also JSON nested deeper than 256 levels, which no real answer does) are `model_error`;
// overload, rate-limit and server errors reported inside a body are `unavailable` (retryable). No
// exception of the JSON library escapes these functions.
// Thread-safety: the free functions are reentrant; an accumulator serves one stream on one thread
// at a time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/provider.hpp"
#include "loomflow/providers/wire/sse.hpp"

namespace loomflow::providers::wire::openai {

struct ChatOptions {
  std::optional<double> temperature;  // omitted when unset; must be finite
  std::optional<int> max_tokens;      // sent as "max_tokens" (the widest-supported name); omitted when unset; > 0
  bool stream = false;                // true adds "stream": true and "stream_options": {"include_usage": true}
  // "" omits tool_choice | "auto" | "none" | "required" | a tool name ->
  // {"type":"function","function":{"name":...}} (the name must be one of the request's tools).
  // Sent only when the request has tools ("auto"/"none" without tools are dropped; "required" or a
  // name without tools is an error).
  std::string tool_choice;
  // true (the API's default) omits the key; false sends "parallel_tool_calls": false when the
  // request has tools (the API rejects the key without tools).
  bool parallel_tool_calls = true;
};

// The JSON body of POST {base}/chat/completions, keys in the SDK's order ("model", "messages", ...).
// - system/user -> {"role","content"}; assistant -> {"role":"assistant","content"} plus
//   "tool_calls":[{"id","type":"function","function":{"name","arguments"}}] when it has calls
//   ("content": null when its text is empty; empty arguments are sent as "{}"); tool results ->
//   {"role":"tool","tool_call_id","content"} (the API has no error flag: is_error is not sent).
// - Tools: {"type":"function","function":{"name","description" (omitted when empty),"parameters":
//   <schema object>}} ({"type":"object","properties":{}} when the schema is empty).
// - Structured output: "response_format": {"type":"json_schema","json_schema":{"name":"output",
//   "strict":true,"schema": <schema>}}.
// Errors (invalid_argument): empty model, no messages, a schema that is not a JSON object (naming
// the tool or the output schema), a tool result without its call id, a tool_choice naming no tool
// of the request, bad temperature / max_tokens.
Expected<std::string> build_chat_request(const ModelRequest& request, const ChatOptions& options);

// A non-streaming 200 body -> ModelResponse: message.content (null -> ""; an array of text parts is
// joined), tool_calls in order (arguments kept verbatim; an arguments object is serialized),
// refusal -> response.refusal with finish_reason "refusal", usage as above. Only choices[0] is read.
// Errors: malformed JSON or a body without choices[0].message is a model_error naming
// `provider_label` (e.g. "openai model 'gpt-4.1-mini'") and what was wrong; a body with a top-level
// "error" object is turned into an Error as a stream error chunk would be.
Expected<ModelResponse> parse_chat_response(std::string_view body, const std::string& provider_label);

// Assembles a streamed response from its SSE events, in order. Feed every event to on_event(); after
// the body ended, finish() gives the response (the same one parse_chat_response gives for the
// equivalent non-streaming body).
class ChatStreamAccumulator {
 public:
  explicit ChatStreamAccumulator(std::string provider_label);

  // Called with each non-empty text delta as it arrives; may be left empty.
  std::function<void(std::string_view)> on_text;

  // Handles one event's data: "[DONE]" ends the stream (later events are ignored; an empty data
  // payload is a keep-alive); otherwise a chat.completion.chunk whose choices[0].delta carries
  // content / refusal / tool_calls fragments and whose finish_reason and usage are kept. Tool-call
  // fragments are keyed by `index` (only the first fragment of a call carries id, type and name;
  // arguments are concatenated); a fragment without `index` continues the last call unless it
  // brings a new id.
  // Errors: a data payload that is not a JSON object (model_error); a chunk with a top-level
  // "error" key, or an event named "error" (unavailable when error.type/code says overloaded,
  // server_error or rate limit, else model_error; the message holds the type, code and message);
  // a tool-call fragment whose index skips ahead (model_error). Unknown keys (e.g. "obfuscation")
  // are ignored; "usage": null is accepted. After an error every later call returns that error.
  Expected<void> on_event(const SseEvent& event);

  // True once "data: [DONE]" was seen.
  bool done() const noexcept;

  // The assembled response. A stream that ended before [DONE] is a "truncated stream" error
  // (unavailable), unless `allow_missing_done` (some OpenAI-compatible servers omit [DONE]) and a
  // finish_reason was seen. An earlier on_event error is returned again; a tool call without a name
  // is a model_error.
  Expected<ModelResponse> finish(bool allow_missing_done = false);

 private:
  Expected<void> handle(const SseEvent& event);
  Expected<void> fail(Error error);

  std::string label_;
  std::string content_;
  std::string refusal_;
  std::vector<ToolCall> calls_;
  std::string finish_reason_;  // as sent; normalized by finish()
  bool saw_finish_ = false;
  Usage usage_;
  bool done_ = false;
  std::optional<Error> error_;
};

// An error response body -> what the API said: {"error":{"message","type","param","code"}}.
struct ApiError {
  int status = 0;
  std::string type;
  std::string code;     // numeric codes (some compatible servers) are given as their decimal text
  std::string message;
  std::string param;
};

// Tolerant: a body that is not JSON (or not of that shape) keeps type/code/param empty and uses the
// body text (at most 500 bytes, cut at a UTF-8 boundary) as the message; {"error": "text"} and a
// top-level "message" / "detail" string are read as the message.
ApiError parse_error_body(int status, std::string_view body);

}  // namespace loomflow::providers::wire::openai
