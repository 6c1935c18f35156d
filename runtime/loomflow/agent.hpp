// loomflow/agent.hpp — `Agent`: instructions, a model, tools and a turn cap; the model runs the loop.
//
// A run (see runtime.hpp) calls the model with the conversation; every tool call of a turn is
// dispatched concurrently, the results go back in call order, and the loop repeats until the model
// answers without tool calls. Needing more than `max_turns` model calls is an error naming the
// agent and the cap. With an `output_schema` the final answer must be JSON matching it.
// An Agent is an immutable, validated value: cheap to copy and safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/provider.hpp"
#include "loomflow/tool.hpp"

namespace loomflow {

namespace detail {
struct AgentImpl;
}

struct AgentOptions {
  std::string name;                 // required; [A-Za-z0-9_-]{1,64}
  std::string instructions;         // sent as the system message; may be empty
  Model model;                      // required: a provider and a model name
  std::vector<Tool> tools;          // names must be unique; default: none
  int max_turns = 10;               // model calls per run, >= 1; default 10
  std::string output_schema;        // JSON Schema text for the final answer; default: free text
};

class Agent {
 public:
  // Validates the options: a bad name, no provider, max_turns < 1, duplicate tool names or an
  // output schema that is not valid JSON Schema are errors naming the agent and the field.
  static Expected<Agent> create(AgentOptions options);

  const std::string& name() const noexcept;
  const AgentOptions& options() const noexcept;

  const detail::AgentImpl& impl() const noexcept { return *impl_; }
  const std::shared_ptr<const detail::AgentImpl>& shared_impl() const noexcept { return impl_; }

 private:
  explicit Agent(std::shared_ptr<const detail::AgentImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::AgentImpl> impl_;
};

}  // namespace loomflow
