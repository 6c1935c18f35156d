// loomflow/usage_json.hpp — Usage as JSON, the one form every output uses (CLI --json, run events,
// `loomflow serve`): input_tokens, output_tokens, cached_input_tokens, total_tokens, model_calls,
// tool_calls, tool_errors, cost_usd.
// Thread-safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "loomflow/message.hpp"

namespace loomflow {

nlohmann::ordered_json usage_json(const Usage& usage);

}  // namespace loomflow
