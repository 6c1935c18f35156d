#include <cstdlib>

#include "loomflow/tools/retrieval/embedder.hpp"
#include "loomflow/tools/retrieval/http_embedder.hpp"
#include "loomflow/tools/retrieval/local_embedder.hpp"

namespace loomflow::retrieval {

namespace {

std::optional<std::string> process_getenv(const std::string& name) {
  if (const char* value = std::getenv(name.c_str()); value != nullptr && *value != '\0') return std::string(value);
  return std::nullopt;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Expected<std::shared_ptr<Embedder>> make_embedder(std::string_view name, EnvLookup getenv) {
  if (!getenv) getenv = process_getenv;
  if (name.empty() || name == "local") return std::shared_ptr<Embedder>(std::make_shared<LocalEmbedder>());
  if (starts_with(name, "local:")) {
    const std::string digits(name.substr(6));
    char* end = nullptr;
    const unsigned long dim = std::strtoul(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || dim < 16 || dim > 65536)
      return Error{ErrorCode::invalid_argument,
                   "embedder '" + std::string(name) + "': local:DIM needs a dimension from 16 to 65536"};
    return std::shared_ptr<Embedder>(std::make_shared<LocalEmbedder>(dim));
  }
  const bool openai = starts_with(name, "openai:");
  if (!openai && !starts_with(name, "compat:"))
    return Error{ErrorCode::invalid_argument,
                 "unknown embedder '" + std::string(name) + "': use local, local:DIM, openai:MODEL or compat:MODEL"};
  HttpEmbedderOptions options;
  options.provider = openai ? "openai" : "compat";
  options.model = std::string(name.substr(7));
  if (options.model.empty())
    return Error{ErrorCode::invalid_argument, "embedder '" + std::string(name) + "' names no model"};
  auto base = getenv("OPENAI_BASE_URL");
  if (!base && !openai)
    return Error{ErrorCode::invalid_argument,
                 "embedder '" + std::string(name) + "' needs the base URL of an OpenAI-compatible endpoint: set "
                 "OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1 for Ollama)"};
  options.base_url = base.value_or("https://api.openai.com/v1");
  options.api_key = getenv("OPENAI_API_KEY").value_or("");
  // The hosted API needs a key; a custom endpoint (a local server, a gateway) may not.
  if (openai && !base && options.api_key.empty())
    return Error{ErrorCode::invalid_argument,
                 "embedder '" + std::string(name) + "' needs an API key: set OPENAI_API_KEY"};
  auto embedder = HttpEmbedder::create(std::move(options));
  if (!embedder) return embedder.error();
  return std::shared_ptr<Embedder>(*embedder);
}

}  // namespace loomflow::retrieval
