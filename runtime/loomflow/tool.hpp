// loomflow/tool.hpp — `Tool`: something an agent can call, described to the model by a `ToolSpec`.
//
// Kinds: a C++ function (`Tool::function`), a workflow (`Workflow::as_tool`), or a tool served by
// the cluster's workers (`Tool::remote`). A tool is an
// immutable value, cheap to copy. Each call runs in its own actor, so the calls of one model turn
// run concurrently; a function that blocks (I/O, subprocesses) must say so with
// `ToolOptions::blocking` and then runs on a detached actor. Functions must be thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "loomflow/error.hpp"
#include "loomflow/ids.hpp"
#include "loomflow/provider.hpp"

namespace loomflow {

namespace detail {
struct ToolImpl;
}

// What a tool function sees of the run that called it.
//
// `idempotency_key` is "<session id>/<step name>": stable across a crash and resume. With a journal
// a tool's *result* is used exactly once, but a dispatch that started and did not finish before a
// crash is dispatched again with the same key — so a tool's *effects* are at-least-once unless the
// tool deduplicates on its key (or is naturally idempotent: say so with ToolOptions::idempotent).
// For a tool that is not idempotent, the journal records that a dispatch started before calling it,
// so the repeated dispatch arrives with `redelivery == true`: check your key then.
struct ToolContext {
  const UserId& user_id;
  const SessionId& session_id;
  std::string_view step_name;        // stable step name of this dispatch
  std::string_view idempotency_key;  // "<session id>/<step name>"
  bool redelivery = false;           // this dispatch started before a crash: its effect may exist
};

// Returns the result text for the model, or an Error that goes back to the model as a tool error.
using ToolFn = std::function<Expected<std::string>(const ToolContext&, std::string_view arguments_json)>;

struct ToolOptions {
  bool blocking = false;    // the function blocks: run it on a detached actor (default: no)
  // A call that has not answered after this long is a tool error for the model ("timed out");
  // its sibling calls go on, and a late answer is dropped. 0 = no limit (default).
  std::chrono::milliseconds timeout{0};
  // Calls of this tool within one model turn run one at a time, in call order (other tools' calls
  // still run concurrently with them). For tools that must not overlap, e.g. a shared shell.
  bool sequential = false;
  bool idempotent = false;  // calling it twice with the same arguments has the effect of once: a
                            // journaled run then skips the synced "dispatch started" marker
};

class Tool {
 public:
  // `parameters_schema` is the JSON Schema of the arguments object; empty means `{"type":"object"}`.
  // In an agent run the arguments are validated against it before `fn` runs: a violation goes back
  // to the model as a tool error naming the JSON path, and `fn` never sees it.
  // Fails when the name is not [A-Za-z0-9_-]{1,64} or the schema is not valid JSON Schema.
  static Expected<Tool> function(std::string name, std::string description, std::string parameters_schema,
                                 ToolFn fn, ToolOptions options = {});

  // A tool served by the cluster's tool workers (`loomflow worker`, see loomflow/cluster/node.hpp):
  // each call goes to one of the workers serving `spec.name`. Only a Runtime that is a cluster node
  // can run it; elsewhere every call is a tool error saying so. `options.blocking` is ignored.
  // Fails like function() on a bad name or schema.
  static Expected<Tool> remote(ToolSpec spec, ToolOptions options = {});

  const ToolSpec& spec() const noexcept;
  const std::string& name() const noexcept { return spec().name; }

  // For the runtime's actors.
  const detail::ToolImpl& impl() const noexcept { return *impl_; }
  explicit Tool(std::shared_ptr<const detail::ToolImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const detail::ToolImpl> impl_;
};

// True when `name` may name a tool, node, agent or workflow: [A-Za-z0-9_-], 1..64 characters.
bool is_valid_name(std::string_view name) noexcept;

}  // namespace loomflow
