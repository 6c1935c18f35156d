// Deeply nested JSON from a model or a provider is refused as an error, never a stack overflow
// (found by loomflow_decoder_fuzz).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "loomflow/json_schema.hpp"
#include "loomflow/providers/wire/anthropic_messages.hpp"

using namespace loomflow;

namespace {
const std::string kDeep = std::string(100000, '[') + std::string(100000, ']');
}

TEST(JsonDepth, ValidatingADeeplyNestedValueIsAViolationNotACrash) {
  auto deep = nlohmann::json::parse(kDeep);
  auto violation = validate_json(nlohmann::json::parse(R"({"const": 1})"), deep);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->message.find("nested deeper than 256 levels"), std::string::npos) << violation->message;
}

TEST(JsonDepth, AnAnthropicBodyWithDeeplyNestedToolInputIsAModelError) {
  auto r = providers::wire::anthropic::parse_messages_response(
      R"({"content":[{"type":"tool_use","id":"t","name":"f","input":)" + kDeep + "}]}", "anthropic model 'm'");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
}

TEST(JsonDepth, AnAnthropicStreamEventWithDeeplyNestedDataIsAModelError) {
  providers::wire::anthropic::MessagesStreamAccumulator stream("anthropic model 'm'");
  auto r = stream.on_event({"error", R"({"type":"error","error":)" + kDeep + "}", ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::model_error);
}
