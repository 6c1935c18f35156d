// loomflow/provider.hpp — the one interface every model provider implements, and `Model`, the
// handle an agent holds (a provider plus the model name it is asked for).
//
// The runtime calls a provider from a provider actor. `complete` must be thread-safe. A provider
// whose `complete` blocks (network I/O) returns `blocking() == true`; the runtime then calls it on a
// detached actor so it never stalls the cooperative scheduler.
#pragma once

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

struct ModelRequest {
  std::string model;               // model name as the provider knows it
  std::string agent;               // the calling agent's name
  std::string step_name;           // stable step name of this call (see trace.hpp)
  std::vector<Message> messages;   // instructions (as a system message) first, then the conversation
  std::vector<ToolSpec> tools;
  std::string output_schema;       // JSON Schema text the final answer must match; empty = free text
};

struct ModelResponse {
  Message message;  // role assistant: text and/or tool calls
  Usage usage;      // this call's tokens; model_calls is set by the runtime
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Short provider name for errors and traces ("echo", "scripted", "openai", ...).
  virtual std::string_view name() const noexcept = 0;
  // One model call. Errors name the provider, the model and what went wrong.
  virtual Expected<ModelResponse> complete(const ModelRequest& request) = 0;
  // True when `complete` may block the calling thread (network, disk).
  virtual bool blocking() const noexcept { return false; }
};

// A provider and the model name to ask it for. Cheap to copy; shared by every agent using it.
struct Model {
  std::shared_ptr<Provider> provider;
  std::string name;
};

}  // namespace loomflow
