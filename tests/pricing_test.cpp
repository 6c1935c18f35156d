// Price tables and the cost of a call's usage.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loomflow/providers/pricing.hpp"

using namespace loomflow;
using namespace loomflow::providers;

TEST(Pricing, ADatedModelNameFindsItsFamilysPriceByLongestPrefix) {
  auto table = default_prices();
  auto mini = find_price(table, "gpt-4o-mini-2024-07-18");
  ASSERT_TRUE(mini);
  EXPECT_DOUBLE_EQ(mini->input_per_mtok, 0.15);
  auto full = find_price(table, "gpt-4o-2024-08-06");
  ASSERT_TRUE(full);
  EXPECT_DOUBLE_EQ(full->input_per_mtok, 2.50);
  EXPECT_FALSE(find_price(table, "llama3.1"));
}

TEST(Pricing, CachedInputTokensAreChargedAtTheCachedPrice) {
  Usage usage;
  usage.input_tokens = 1'000'000;
  usage.cached_input_tokens = 400'000;
  usage.output_tokens = 100'000;
  EXPECT_DOUBLE_EQ(cost_usd(Price{2.0, 8.0, 0.5}, usage), 600'000 * 2.0 / 1e6 + 400'000 * 0.5 / 1e6 + 0.8);
}

TEST(Pricing, AUserTableIsCheckedWithPaths) {
  auto ok = prices_from_json(nlohmann::json::parse(R"({"my-model": {"input": 1, "output": 2}})"), "$");
  ASSERT_TRUE(ok);
  EXPECT_DOUBLE_EQ(ok->at("my-model").cached_input_per_mtok, 1.0);  // defaults to the input price
  auto bad = prices_from_json(nlohmann::json::parse(R"({"m": {"input": -1, "output": 2}})"), "$");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("$.m.input"), std::string::npos);
  auto missing = prices_from_json(nlohmann::json::parse(R"({"m": {"input": 1}})"), "$");
  ASSERT_FALSE(missing);
  auto unknown = prices_from_json(nlohmann::json::parse(R"({"m": {"input": 1, "output": 1, "inptu": 2}})"), "$");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("$.m.inptu: unknown field"), std::string::npos);
}
