// loomflow/providers/pricing.hpp — what model calls cost: a price table (USD per million tokens)
// that HTTP providers apply to each call's usage. The defaults are list prices of well-known models
// as published in 2025; users override or extend them (`--prices FILE`, ProviderEnvironment::prices).
// Thread-safety: tables are immutable values once built.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "loomflow/error.hpp"
#include "loomflow/message.hpp"

namespace loomflow::providers {

struct Price {
  double input_per_mtok = 0;         // uncached input tokens
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0;  // input tokens served from the provider's prompt cache
};

// Model name (or name prefix, e.g. "gpt-4o" covers "gpt-4o-2024-08-06") -> price.
using PriceTable = std::map<std::string, Price>;

PriceTable default_prices();
// The exact entry, else the longest prefix entry.
std::optional<Price> find_price(const PriceTable& table, std::string_view model);
double cost_usd(const Price& price, const Usage& usage);
// {"<model>": {"input": 2.5, "output": 10, "cached_input": 1.25}, ...}; errors name the path.
Expected<PriceTable> prices_from_json(const nlohmann::json& json, const std::string& json_path);

}  // namespace loomflow::providers
