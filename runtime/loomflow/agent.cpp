#include "loomflow/agent.hpp"

#include <nlohmann/json.hpp>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/json_schema.hpp"

namespace loomflow {

bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// Parses and checks a JSON Schema given as text; `what` names it in the error.
Expected<std::shared_ptr<const CheckedSchema>> checked_schema(const std::string& text, const std::string& what) {
  auto schema = CheckedSchema::parse(text);
  if (!schema) return Error{ErrorCode::invalid_argument, what + " " + schema.error().message};
  return std::make_shared<const CheckedSchema>(std::move(schema).value());
}

}  // namespace

Expected<Tool> Tool::function(std::string name, std::string description, std::string parameters_schema, ToolFn fn,
                              ToolOptions options) {
  if (!is_valid_name(name))
    return Error{ErrorCode::invalid_argument,
                 "tool '" + name + "' has an invalid name (use [A-Za-z0-9_-], 1 to 64 characters)"};
  if (!fn) return Error{ErrorCode::invalid_argument, "tool '" + name + "' has no function"};
  if (parameters_schema.empty()) parameters_schema = R"({"type":"object"})";
  auto parameters = checked_schema(parameters_schema, "tool '" + name + "' parameters schema");
  if (!parameters) return parameters.error();
  auto impl = std::make_shared<detail::ToolImpl>();
  impl->kind = detail::ToolImpl::Kind::function;
  impl->parameters = std::move(parameters).value();
  impl->spec = ToolSpec{std::move(name), std::move(description), std::move(parameters_schema)};
  impl->fn = std::move(fn);
  impl->blocking = options.blocking;
  impl->idempotent = options.idempotent;
  impl->sequential = options.sequential;
  impl->timeout = options.timeout;
  return Tool(std::move(impl));
}

Expected<Tool> Tool::remote(ToolSpec spec, ToolOptions options) {
  if (!is_valid_name(spec.name))
    return Error{ErrorCode::invalid_argument,
                 "tool '" + spec.name + "' has an invalid name (use [A-Za-z0-9_-], 1 to 64 characters)"};
  if (spec.parameters_schema.empty()) spec.parameters_schema = R"({"type":"object"})";
  auto parameters = checked_schema(spec.parameters_schema, "tool '" + spec.name + "' parameters schema");
  if (!parameters) return parameters.error();
  auto impl = std::make_shared<detail::ToolImpl>();
  impl->kind = detail::ToolImpl::Kind::remote;
  impl->parameters = std::move(parameters).value();
  impl->spec = std::move(spec);
  impl->idempotent = options.idempotent;
  impl->sequential = options.sequential;
  impl->timeout = options.timeout;
  return Tool(std::move(impl));
}

const ToolSpec& Tool::spec() const noexcept { return impl_->spec; }

Expected<Agent> Agent::create(AgentOptions options) {
  const std::string who = "agent '" + options.name + "'";
  if (!is_valid_name(options.name))
    return Error{ErrorCode::invalid_argument, who + " has an invalid name (use [A-Za-z0-9_-], 1 to 64 characters)"};
  if (!options.model.provider) return Error{ErrorCode::invalid_argument, who + " has no model provider"};
  if (options.max_turns < 1)
    return Error{ErrorCode::invalid_argument,
                 who + ": max_turns must be at least 1, got " + std::to_string(options.max_turns)};
  auto impl = std::make_shared<detail::AgentImpl>();
  if (!options.output_schema.empty()) {
    auto schema = checked_schema(options.output_schema, who + " output_schema");
    if (!schema) return schema.error();
    impl->output_schema = std::move(schema).value();
  }
  for (std::size_t i = 0; i < options.tools.size(); ++i) {
    const auto& spec = options.tools[i].spec();
    if (!impl->tool_index.emplace(spec.name, i).second)
      return Error{ErrorCode::invalid_argument, who + " has two tools named '" + spec.name + "'"};
    impl->tool_specs.push_back(spec);
  }
  impl->options = std::move(options);
  return Agent(std::move(impl));
}

const std::string& Agent::name() const noexcept { return impl_->options.name; }
const AgentOptions& Agent::options() const noexcept { return impl_->options; }

}  // namespace loomflow
