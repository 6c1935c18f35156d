// loomflow/providers/resolve.hpp — from a model name to a Model: one argument points an agent at a
// real model, and one argument swaps it.
//
//   "echo"                          the built-in echo model
//   "openai:gpt-4.1-mini"           OpenAI Chat Completions
//   "anthropic:claude-haiku-4-5"    Anthropic Messages
//   "compat:llama3.1"               any OpenAI-compatible endpoint (LiteLLM, vLLM, Ollama, OpenRouter);
//                                   needs a base URL (settings or OPENAI_BASE_URL)
//   "gpt-4.1-mini", "o4-mini", "chatgpt-4o-latest"   OpenAI, inferred from the prefix (gpt-, o1, o3, o4, chatgpt-)
//   "claude-haiku-4-5"              Anthropic, inferred from the prefix claude-
// Conventions: OPENAI_API_KEY, OPENAI_BASE_URL (includes /v1), ANTHROPIC_API_KEY,
// ANTHROPIC_BASE_URL (the host root); `ModelSettings` overrides them per agent. A missing key is an
// error naming the variable to set — never the key itself.
// Thread-safety: resolve_model may run concurrently only with distinct environments.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "loomflow/provider.hpp"
#include "loomflow/providers/http_model.hpp"

namespace loomflow::providers {

// Per-agent overrides; every field defaults to the conventions above.
struct ModelSettings {
  std::string base_url;          // default: OPENAI_BASE_URL / ANTHROPIC_BASE_URL / the API's own
  std::string api_key_env;       // default: OPENAI_API_KEY / ANTHROPIC_API_KEY
  http::Headers headers;         // extra headers (default: none)
  CallSettings call;             // temperature, max_tokens, tool_choice, stream
  std::optional<std::chrono::milliseconds> connect_timeout, total_timeout, idle_timeout;
  std::optional<int> max_attempts;  // default 3
  std::function<void(std::string_view)> on_text;  // streamed text deltas (see HttpModelOptions)
};

struct ProviderEnvironment {
  // Reads an environment variable; default: the process environment.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // Shared by every HTTP model resolved with this environment; made on first need.
  std::shared_ptr<http::HttpClient> http;
  // Prices applied to every call's usage; default (null): default_prices().
  std::shared_ptr<const PriceTable> prices;
};

// The process environment, as ProviderEnvironment::getenv expects it.
std::optional<std::string> process_getenv(const std::string& name);

Expected<Model> resolve_model(std::string_view name, const ModelSettings& settings, ProviderEnvironment& env);

}  // namespace loomflow::providers
