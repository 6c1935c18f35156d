#include "loomflow/providers/pricing.hpp"

#include <nlohmann/json.hpp>

namespace loomflow::providers {

PriceTable default_prices() {
  return {
      {"gpt-4.1", {2.00, 8.00, 0.50}},        {"gpt-4.1-mini", {0.40, 1.60, 0.10}},
      {"gpt-4.1-nano", {0.10, 0.40, 0.025}},  {"gpt-4o", {2.50, 10.00, 1.25}},
      {"gpt-4o-mini", {0.15, 0.60, 0.075}},   {"o3", {2.00, 8.00, 0.50}},
      {"o3-mini", {1.10, 4.40, 0.55}},        {"o4-mini", {1.10, 4.40, 0.275}},
      {"claude-haiku-4-5", {1.00, 5.00, 0.10}}, {"claude-sonnet-4-5", {3.00, 15.00, 0.30}},
      {"claude-sonnet-4", {3.00, 15.00, 0.30}}, {"claude-opus-4-1", {15.00, 75.00, 1.50}},
  };
}

std::optional<Price> find_price(const PriceTable& table, std::string_view model) {
  if (auto it = table.find(std::string(model)); it != table.end()) return it->second;
  std::optional<Price> best;
  std::size_t best_length = 0;
  for (const auto& [name, price] : table) {
    if (name.size() > best_length && model.substr(0, name.size()) == name) {
      best = price;
      best_length = name.size();
    }
  }
  return best;
}

double cost_usd(const Price& price, const Usage& usage) {
  const double cached = static_cast<double>(usage.cached_input_tokens);
  const double uncached = static_cast<double>(usage.input_tokens) - cached;
  return (uncached * price.input_per_mtok + cached * price.cached_input_per_mtok +
          static_cast<double>(usage.output_tokens) * price.output_per_mtok) /
         1e6;
}

Expected<PriceTable> prices_from_json(const nlohmann::json& json, const std::string& path) {
  auto bad = [](const std::string& at, const std::string& what) { return Error{ErrorCode::invalid_argument, at + ": " + what}; };
  if (!json.is_object()) return bad(path, "expected an object of model names to prices");
  PriceTable table;
  for (const auto& [model, entry] : json.items()) {
    const std::string at = path + "." + model;
    if (!entry.is_object()) return bad(at, R"(expected {"input": <USD/Mtok>, "output": <USD/Mtok>, "cached_input"?})");
    Price price;
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_number() || value.get<double>() < 0) return bad(at + "." + key, "expected a number >= 0");
      if (key == "input") price.input_per_mtok = value.get<double>();
      else if (key == "output") price.output_per_mtok = value.get<double>();
      else if (key == "cached_input") price.cached_input_per_mtok = value.get<double>();
      else return bad(at + "." + key, "unknown field (expected input, output or cached_input)");
    }
    if (!entry.contains("input") || !entry.contains("output")) return bad(at, "needs both \"input\" and \"output\"");
    if (!entry.contains("cached_input")) price.cached_input_per_mtok = price.input_per_mtok;
    table[model] = price;
  }
  return table;
}

}  // namespace loomflow::providers
