// loomflow/providers/dialects.hpp — the HTTP APIs HttpModelProvider speaks.
//   openai_dialect():    POST {base}/chat/completions, `Authorization: Bearer KEY` (OpenAI and
//                        every OpenAI-compatible server)
//   anthropic_dialect(): POST {base}/v1/messages, `x-api-key: KEY`, `anthropic-version: 2023-06-01`
// Thread-safety: dialects are immutable and shared.
#pragma once

#include <memory>

#include "loomflow/providers/http_model.hpp"

namespace loomflow::providers {

std::shared_ptr<const Dialect> openai_dialect();
std::shared_ptr<const Dialect> anthropic_dialect();

}  // namespace loomflow::providers
