#include "loomflow/providers/resolve.hpp"

#include <cstdlib>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/providers/dialects.hpp"

namespace loomflow::providers {

std::optional<std::string> process_getenv(const std::string& name) {
  if (const char* value = std::getenv(name.c_str()); value != nullptr && *value != '\0') return std::string(value);
  return std::nullopt;
}

namespace {

enum class Api { openai, compat, anthropic };

struct Parsed {
  Api api;
  std::string model;
};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::optional<Parsed> parse_name(std::string_view name) {
  if (starts_with(name, "openai:")) return Parsed{Api::openai, std::string(name.substr(7))};
  if (starts_with(name, "compat:")) return Parsed{Api::compat, std::string(name.substr(7))};
  if (starts_with(name, "anthropic:")) return Parsed{Api::anthropic, std::string(name.substr(10))};
  for (std::string_view p : {"gpt-", "o1", "o3", "o4", "chatgpt-"})
    if (starts_with(name, p)) return Parsed{Api::openai, std::string(name)};
  if (starts_with(name, "claude-")) return Parsed{Api::anthropic, std::string(name)};
  return std::nullopt;
}

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

Expected<Model> resolve_model(std::string_view name, const ModelSettings& settings, ProviderEnvironment& env) {
  if (name == "echo") return echo();
  auto parsed = parse_name(name);
  if (!parsed || parsed->model.empty())
    return Error{ErrorCode::invalid_argument,
                 "unknown model '" + std::string(name) +
                     "': use echo, scripted, openai:<model>, anthropic:<model>, compat:<model>, or an OpenAI (gpt-, "
                     "o1, o3, o4, chatgpt-) or Anthropic (claude-) model name"};
  if (!env.getenv) env.getenv = process_getenv;
  const bool anthropic = parsed->api == Api::anthropic;
  const std::string url_var = anthropic ? "ANTHROPIC_BASE_URL" : "OPENAI_BASE_URL";
  const std::string key_var = !settings.api_key_env.empty() ? settings.api_key_env
                              : anthropic                   ? "ANTHROPIC_API_KEY"
                                                            : "OPENAI_API_KEY";
  HttpModelOptions options;
  options.provider_name = parsed->api == Api::openai ? "openai" : parsed->api == Api::compat ? "compat" : "anthropic";
  options.base_url = settings.base_url;
  if (options.base_url.empty()) options.base_url = env.getenv(url_var).value_or("");
  const bool custom_endpoint = !options.base_url.empty();
  if (options.base_url.empty()) {
    if (parsed->api == Api::compat)
      return Error{ErrorCode::invalid_argument,
                   "model '" + std::string(name) + "' needs the base URL of an OpenAI-compatible endpoint: set base_url "
                   "(e.g. http://127.0.0.1:11434/v1 for Ollama) or OPENAI_BASE_URL"};
    options.base_url = anthropic ? "https://api.anthropic.com" : "https://api.openai.com/v1";
  }
  options.base_url = trim_slash(options.base_url);
  options.api_key = env.getenv(key_var).value_or("");
  // The hosted APIs need a key; a custom endpoint (a local server, a gateway) may not.
  if (options.api_key.empty() && !custom_endpoint && parsed->api != Api::compat)
    return Error{ErrorCode::invalid_argument,
                 options.provider_name + " model '" + parsed->model + "' needs an API key: set " + key_var};
  options.extra_headers = settings.headers;
  options.call = settings.call;
  if (settings.connect_timeout) options.connect_timeout = *settings.connect_timeout;
  if (settings.total_timeout) options.total_timeout = *settings.total_timeout;
  if (settings.idle_timeout) options.idle_timeout = *settings.idle_timeout;
  if (settings.max_attempts) options.retry.max_attempts = *settings.max_attempts;
  options.on_text = settings.on_text;
  if (!env.http) env.http = std::make_shared<http::HttpClient>();
  if (!env.prices) env.prices = std::make_shared<const PriceTable>(default_prices());
  options.prices = env.prices;
  auto dialect = anthropic ? anthropic_dialect() : openai_dialect();
  return Model{std::make_shared<HttpModelProvider>(env.http, std::move(dialect), std::move(options)), parsed->model};
}

}  // namespace loomflow::providers
