// loomflow/provider.hpp — the one interface every model provider implements, and `Model`, the
// handle an agent holds (a provider plus the model name it is asked for).
//
// The runtime calls a provider from its model actor, one call per request, in one of three ways:
// - synchronous and cheap (`complete`, the default): inline on the actor;
// - blocking (`blocking() == true`): `complete` on a detached actor, so it never stalls the
//   cooperative scheduler;
// - asynchronous (`asynchronous() == true`): `start` with a completion callback, for providers
//   that run their own I/O loop; runs waiting on such calls hold no thread.
// `complete` and `start` must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/message.hpp"

namespace loomflow {

// What a model is told about a tool it may call.
struct ToolSpec {
  std::string name;
  std::string description;
  std::string parameters_schema;  // JSON Schema text of the arguments object
  friend bool operator==(const ToolSpec&, const ToolSpec&) = default;
};

// Where a provider sends an answer's text while it is generated, when the run is streamed
// (Runtime::stream). Flow control: while congested() is true the consumer is behind, and a provider
// reading a stream should stop reading — its socket fills and the model server slows down — until
// the function given to when_ready() runs. Implementations are thread-safe.
class TextSink {
 public:
  virtual ~TextSink() = default;
  // One piece of the answer's text, in order. Any thread; must be quick.
  virtual void on_text(std::string_view delta) = 0;
  virtual bool congested() = 0;
  // `resume` runs once, from any thread (at once when no longer congested).
  virtual void when_ready(std::function<void()> resume) = 0;
};

struct ModelRequest {
  std::string model;               // model name as the provider knows it
  std::string agent;               // the calling agent's name
  std::string step_name;           // stable step name of this call (see trace.hpp)
  std::string call_id;             // unique per call in flight ("<session>/<step>"); keys cancel()
  Conversation messages;           // instructions (as a system message) first, then the conversation
  std::vector<ToolSpec> tools;
  std::string output_schema;       // JSON Schema text the final answer must match; empty = free text
  // Set when the run is streamed: a provider that can stream should, and report text here. Null:
  // nobody listens. Local to the process (not part of the message that crosses nodes).
  std::shared_ptr<TextSink> text_sink;
};

struct ModelResponse {
  Message message;            // role assistant: text and/or tool calls
  Usage usage;                // this call's tokens; model_calls is set by the runtime
  std::string finish_reason;  // normalized: "stop", "tool_calls", "length", "refusal", "content_filter"; empty = unknown
  std::string refusal;        // the model's refusal text, when it refused
};

class Provider {
 public:
  // Receives the outcome of an asynchronous call, exactly once, from any thread.
  using Completion = std::function<void(Expected<ModelResponse>)>;

  virtual ~Provider() = default;
  // Short provider name for errors and traces ("echo", "scripted", "openai", ...).
  virtual std::string_view name() const noexcept = 0;
  // One model call, answered synchronously. Errors name the provider, the model and what went wrong.
  // The default says the provider only answers asynchronously.
  virtual Expected<ModelResponse> complete(const ModelRequest& request);
  // True when `complete` may block the calling thread (network, disk): the runtime then calls it
  // on a detached actor (a thread per call in flight).
  virtual bool blocking() const noexcept { return false; }
  // True when the provider answers through `start` (its own I/O thread or event loop): no thread
  // waits per call, so a run waiting for the model is just a suspended actor.
  virtual bool asynchronous() const noexcept { return false; }
  // Starts one call; `done` gets the outcome. The default answers with complete() inline.
  virtual void start(ModelRequest request, Completion done) { done(complete(request)); }
  // Asks an asynchronous provider to abandon the call started with `call_id` (its run was cancelled
  // or timed out): it should stop its I/O promptly; its completion may still run. Default: nothing.
  virtual void cancel(const std::string& call_id) {}
};

// A provider and the model name to ask it for. Cheap to copy; shared by every agent using it.
struct Model {
  std::shared_ptr<Provider> provider;
  std::string name;
};

}  // namespace loomflow
