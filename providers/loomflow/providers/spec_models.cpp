#include "loomflow/providers/spec_models.hpp"

#include <nlohmann/json.hpp>

#include "loomflow/providers/builtin.hpp"

namespace loomflow::providers {

namespace {

Error bad(const std::string& path, const std::string& what) { return Error{ErrorCode::invalid_spec, path + ": " + what}; }

Expected<long long> positive(const nlohmann::json& v, const std::string& path) {
  if (!v.is_number_integer() || v.get<long long>() < 1) return bad(path, "expected an integer >= 1");
  return v.get<long long>();
}

Expected<std::string> text(const nlohmann::json& v, const std::string& path) {
  if (!v.is_string() || v.get<std::string>().empty()) return bad(path, "expected a non-empty string");
  return v.get<std::string>();
}

}  // namespace

Expected<ModelSettings> model_settings_from_json(const nlohmann::json& json, const std::string& path) {
  if (!json.is_object()) return bad(path, "expected an object");
  ModelSettings s;
  for (const auto& [key, v] : json.items()) {
    const std::string at = path + "." + key;
    if (key == "base_url" || key == "api_key_env" || key == "tool_choice") {
      auto value = text(v, at);
      if (!value) return value.error();
      (key == "base_url" ? s.base_url : key == "api_key_env" ? s.api_key_env : s.call.tool_choice) = *value;
    } else if (key == "headers") {
      if (!v.is_object()) return bad(at, "expected an object of header names to strings");
      for (const auto& [name, value] : v.items()) {
        if (!value.is_string()) return bad(at + "." + name, "expected a string");
        s.headers.emplace_back(name, value.get<std::string>());
      }
    } else if (key == "temperature") {
      if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 2) return bad(at, "expected a number from 0 to 2");
      s.call.temperature = v.get<double>();
    } else if (key == "stream") {
      if (!v.is_boolean()) return bad(at, "expected true or false");
      s.call.stream = v.get<bool>();
    } else if (key == "max_tokens" || key == "max_attempts") {
      auto n = positive(v, at);
      if (!n) return n.error();
      if (key == "max_tokens") s.call.max_tokens = static_cast<int>(*n);
      else s.max_attempts = static_cast<int>(*n);
    } else if (key == "timeout_ms" || key == "connect_timeout_ms" || key == "idle_timeout_ms") {
      auto n = positive(v, at);
      if (!n) return n.error();
      std::chrono::milliseconds ms(*n);
      (key == "timeout_ms" ? s.total_timeout : key == "connect_timeout_ms" ? s.connect_timeout : s.idle_timeout) = ms;
    } else {
      return bad(at, "unknown field (expected base_url, api_key_env, headers, temperature, max_tokens, tool_choice, "
                     "stream, timeout_ms, connect_timeout_ms, idle_timeout_ms or max_attempts)");
    }
  }
  return s;
}

SpecModelResolver spec_model_resolver(std::shared_ptr<ProviderEnvironment> env) {
  return [env](std::string_view model, const nlohmann::json& agent, const std::string& path) -> Expected<Model> {
    if (model == "echo" || model == "scripted") return builtin_model(model, agent, path);
    ModelSettings settings;
    if (auto it = agent.find("model_settings"); it != agent.end()) {
      auto parsed = model_settings_from_json(*it, path + ".model_settings");
      if (!parsed) return parsed.error();
      settings = std::move(*parsed);
    }
    auto resolved = resolve_model(model, settings, *env);
    if (!resolved) return Error{ErrorCode::invalid_spec, path + ".model: " + resolved.error().message};
    return resolved;
  };
}

}  // namespace loomflow::providers
