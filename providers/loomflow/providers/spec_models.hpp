// loomflow/providers/spec_models.hpp — resolving the models a declarative spec names: the built-in
// echo and scripted models, and every model resolve_model knows, with an agent's "model_settings".
// Thread-safety: a resolver shares its ProviderEnvironment; use it from one thread at a time
// (spec loading is single-threaded).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "loomflow/providers/resolve.hpp"

namespace loomflow::providers {

// Reads {"base_url", "api_key_env", "headers", "temperature", "max_tokens", "tool_choice", "stream",
// "timeout_ms", "connect_timeout_ms", "idle_timeout_ms", "max_attempts"}; errors name `json_path`.
Expected<ModelSettings> model_settings_from_json(const nlohmann::json& settings, const std::string& json_path);

using SpecModelResolver =
    std::function<Expected<Model>(std::string_view model, const nlohmann::json& agent, const std::string& json_path)>;

// The resolver for SpecEnvironment::make_model. HTTP models resolved by it share `env`'s client.
SpecModelResolver spec_model_resolver(std::shared_ptr<ProviderEnvironment> env);

}  // namespace loomflow::providers
