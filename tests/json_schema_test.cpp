#include "loomflow/json_schema.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using nlohmann::json;
using namespace nlohmann::literals;

// "valid", or the first violation as "<path>: <message>", so expectations read as one string.
std::string validate(const json& schema, const json& instance) {
  auto v = loomflow::validate_json(schema, instance);
  return v ? v->to_string() : "valid";
}

std::string check(const json& schema) {
  auto v = loomflow::check_schema(schema);
  return v ? v->to_string() : "valid";
}

// ---- type ---------------------------------------------------------------------------------------

TEST(JsonSchema, AcceptsAValueOfTheRequiredType) {
  EXPECT_EQ(validate(R"({"type": "string"})"_json, "hi"), "valid");
  EXPECT_EQ(validate(R"({"type": "object"})"_json, json::object()), "valid");
  EXPECT_EQ(validate(R"({"type": "null"})"_json, nullptr), "valid");
}

TEST(JsonSchema, RejectsAStringWhereAnIntegerIsRequired) {
  EXPECT_EQ(validate(R"({"type": "integer"})"_json, "7"), "$: expected integer, got string");
}

TEST(JsonSchema, CountsAnIntegralFloatAsAnInteger) { EXPECT_EQ(validate(R"({"type": "integer"})"_json, 3.0), "valid"); }

TEST(JsonSchema, RejectsAFractionalNumberWhereAnIntegerIsRequired) {
  EXPECT_EQ(validate(R"({"type": "integer"})"_json, 3.5), "$: expected integer, got number");
}

TEST(JsonSchema, AcceptsAnIntegerWhereANumberIsRequired) {
  EXPECT_EQ(validate(R"({"type": "number"})"_json, 3), "valid");
}

TEST(JsonSchema, DoesNotCountBooleansAsNumbers) {
  EXPECT_EQ(validate(R"({"type": "number"})"_json, true), "$: expected number, got boolean");
  EXPECT_EQ(validate(R"({"type": "integer"})"_json, false), "$: expected integer, got boolean");
}

TEST(JsonSchema, AcceptsAnyTypeListedInATypeArray) {
  const json schema = R"({"type": ["string", "null"]})"_json;
  EXPECT_EQ(validate(schema, nullptr), "valid");
  EXPECT_EQ(validate(schema, 1), "$: expected string or null, got integer");
}

// ---- enum and const -----------------------------------------------------------------------------

TEST(JsonSchema, RejectsAValueNotListedInEnum) {
  EXPECT_EQ(validate(R"({"enum": ["a", "b"]})"_json, "x"), R"($: value "x" is not one of ["a","b"])");
}

TEST(JsonSchema, AcceptsStructuredAndNumericallyEqualEnumValues) {
  const json schema = R"({"enum": [{"k": [1, 2]}, 5]})"_json;
  EXPECT_EQ(validate(schema, R"({"k": [1, 2]})"_json), "valid");
  EXPECT_EQ(validate(schema, 5.0), "valid");
}

TEST(JsonSchema, RejectsAValueDifferentFromConst) {
  EXPECT_EQ(validate(R"({"const": "v1"})"_json, "v1"), "valid");
  EXPECT_EQ(validate(R"({"const": "v1"})"_json, "v2"), R"($: value "v2" is not the required constant "v1")");
}

// ---- objects ------------------------------------------------------------------------------------

TEST(JsonSchema, ReportsAMissingRequiredProperty) {
  EXPECT_EQ(validate(R"({"required": ["name"]})"_json, json::object()), "$: missing required property 'name'");
}

TEST(JsonSchema, ValidatesEachDeclaredProperty) {
  const json schema = R"({"properties": {"age": {"type": "integer"}}})"_json;
  EXPECT_EQ(validate(schema, R"({"age": 3})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"age": "old"})"_json), "$.age: expected integer, got string");
}

TEST(JsonSchema, AllowsDeclaredPropertiesToBeAbsentUnlessRequired) {
  EXPECT_EQ(validate(R"({"properties": {"age": {"type": "integer"}}})"_json, json::object()), "valid");
}

TEST(JsonSchema, RejectsUnknownPropertiesWhenAdditionalPropertiesIsFalse) {
  const json schema = R"({"properties": {"a": {}}, "additionalProperties": false})"_json;
  EXPECT_EQ(validate(schema, R"({"a": 1})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"a": 1, "foo": 2})"_json),
            "$: unknown property 'foo' (additionalProperties is false)");
}

TEST(JsonSchema, ValidatesUnknownPropertiesAgainstAnAdditionalPropertiesSchema) {
  const json schema = R"({"properties": {"a": {}}, "additionalProperties": {"type": "string"}})"_json;
  EXPECT_EQ(validate(schema, R"({"a": 1, "b": "x"})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"a": 1, "b": 2})"_json), "$.b: expected string, got integer");
}

TEST(JsonSchema, ValidatesPropertiesMatchingAPatternProperty) {
  const json schema = R"({"patternProperties": {"^n_": {"type": "number"}}})"_json;
  EXPECT_EQ(validate(schema, R"({"n_a": 1, "other": "x"})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"n_a": "1"})"_json), "$.n_a: expected number, got string");
}

TEST(JsonSchema, ExemptsPatternPropertiesFromAdditionalProperties) {
  const json schema = R"({"patternProperties": {"^x-": {}}, "additionalProperties": false})"_json;
  EXPECT_EQ(validate(schema, R"({"x-trace": 1})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"trace": 1})"_json), "$: unknown property 'trace' (additionalProperties is false)");
}

TEST(JsonSchema, AppliesPatternPropertiesToDeclaredPropertiesToo) {
  const json schema = R"({"properties": {"n_a": {"type": "number"}},
                          "patternProperties": {"^n_": {"minimum": 0}}})"_json;
  EXPECT_EQ(validate(schema, R"({"n_a": -1})"_json), "$.n_a: value -1 is less than minimum 0");
}

TEST(JsonSchema, RejectsPropertyNamesThatViolatePropertyNames) {
  const json schema = R"({"propertyNames": {"pattern": "^[a-z]+$"}})"_json;
  EXPECT_EQ(validate(schema, R"({"ok": 1})"_json), "valid");
  EXPECT_EQ(validate(schema, R"({"Bad": 1})"_json),
            R"($: invalid property name "Bad": string "Bad" does not match pattern "^[a-z]+$")");
}

TEST(JsonSchema, EnforcesMinProperties) {
  EXPECT_EQ(validate(R"({"minProperties": 2})"_json, R"({"a": 1})"_json),
            "$: object has 1 properties, expected at least 2");
}

TEST(JsonSchema, EnforcesMaxProperties) {
  EXPECT_EQ(validate(R"({"maxProperties": 1})"_json, R"({"a": 1, "b": 2})"_json),
            "$: object has 2 properties, expected at most 1");
}

// ---- arrays -------------------------------------------------------------------------------------

TEST(JsonSchema, ValidatesEveryArrayItemAgainstItems) {
  EXPECT_EQ(validate(R"({"items": {"type": "integer"}})"_json, R"([1, 2, "3"])"_json),
            "$[2]: expected integer, got string");
}

TEST(JsonSchema, ValidatesATupleWithPrefixItemsAndTheRestWithItems) {
  const json schema =
      R"({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "boolean"}})"_json;
  EXPECT_EQ(validate(schema, R"(["a", 1, true, false])"_json), "valid");
  EXPECT_EQ(validate(schema, R"(["a"])"_json), "valid");
  EXPECT_EQ(validate(schema, R"([1])"_json), "$[0]: expected string, got integer");
  EXPECT_EQ(validate(schema, R"(["a", 1, 2])"_json), "$[2]: expected boolean, got integer");
}

TEST(JsonSchema, ForbidsExtraTupleItemsWhenItemsIsFalse) {
  EXPECT_EQ(validate(R"({"prefixItems": [{}], "items": false})"_json, R"([1, 2])"_json),
            "$[1]: no value is allowed here (schema is false)");
}

TEST(JsonSchema, EnforcesMinItems) {
  EXPECT_EQ(validate(R"({"minItems": 2})"_json, R"([1])"_json), "$: array has 1 items, expected at least 2");
}

TEST(JsonSchema, EnforcesMaxItems) {
  EXPECT_EQ(validate(R"({"maxItems": 1})"_json, R"([1, 2])"_json), "$: array has 2 items, expected at most 1");
}

TEST(JsonSchema, RejectsDuplicateItemsWhenUniqueItemsIsTrue) {
  const json schema = R"({"uniqueItems": true})"_json;
  EXPECT_EQ(validate(schema, R"([1, "1", {"a": 1}, {"a": 2}])"_json), "valid");
  EXPECT_EQ(validate(schema, R"([{"a": 1}, 2, {"a": 1}])"_json),
            "$: items [0] and [2] are equal (uniqueItems is true)");
}

TEST(JsonSchema, TreatsOneAndOnePointZeroAsDuplicateItems) {
  EXPECT_EQ(validate(R"({"uniqueItems": true})"_json, R"([1, 1.0])"_json),
            "$: items [0] and [1] are equal (uniqueItems is true)");
}

// ---- strings ------------------------------------------------------------------------------------

TEST(JsonSchema, EnforcesMinLength) {
  EXPECT_EQ(validate(R"({"minLength": 3})"_json, "ab"), "$: string has 2 characters, expected at least 3");
}

TEST(JsonSchema, EnforcesMaxLength) {
  EXPECT_EQ(validate(R"({"maxLength": 3})"_json, "abcd"), "$: string has 4 characters, expected at most 3");
}

TEST(JsonSchema, CountsStringLengthInCodePointsNotBytes) {
  // "héllo" is 6 bytes, "日本語" is 9 bytes, "🙂" is 4 bytes.
  EXPECT_EQ(validate(R"({"maxLength": 5})"_json, "h\xC3\xA9llo"), "valid");
  EXPECT_EQ(validate(R"({"maxLength": 3})"_json, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), "valid");
  EXPECT_EQ(validate(R"({"minLength": 2})"_json, "\xF0\x9F\x99\x82"),
            "$: string has 1 characters, expected at least 2");
}

TEST(JsonSchema, RejectsAStringThatDoesNotMatchPattern) {
  EXPECT_EQ(validate(R"({"pattern": "^[0-9]+$"})"_json, "12a"), R"($: string "12a" does not match pattern "^[0-9]+$")");
}

TEST(JsonSchema, MatchesAnUnanchoredPatternAnywhereInTheString) {
  EXPECT_EQ(validate(R"({"pattern": "b+"})"_json, "abbc"), "valid");
}

TEST(JsonSchema, IgnoresStringKeywordsForNonStrings) {
  EXPECT_EQ(validate(R"({"minLength": 3, "pattern": "^x"})"_json, 12), "valid");
}

// ---- numbers ------------------------------------------------------------------------------------

TEST(JsonSchema, EnforcesMinimum) {
  EXPECT_EQ(validate(R"({"minimum": 5})"_json, 5), "valid");
  EXPECT_EQ(validate(R"({"minimum": 5})"_json, 4.5), "$: value 4.5 is less than minimum 5");
}

TEST(JsonSchema, EnforcesMaximum) {
  EXPECT_EQ(validate(R"({"maximum": 5})"_json, 5), "valid");
  EXPECT_EQ(validate(R"({"maximum": 5})"_json, 6), "$: value 6 is greater than maximum 5");
}

TEST(JsonSchema, EnforcesExclusiveMinimum) {
  EXPECT_EQ(validate(R"({"exclusiveMinimum": 0})"_json, 0.1), "valid");
  EXPECT_EQ(validate(R"({"exclusiveMinimum": 0})"_json, 0), "$: value 0 is not greater than exclusiveMinimum 0");
}

TEST(JsonSchema, EnforcesExclusiveMaximum) {
  EXPECT_EQ(validate(R"({"exclusiveMaximum": 1.5})"_json, 1), "valid");
  EXPECT_EQ(validate(R"({"exclusiveMaximum": 1.5})"_json, 1.5), "$: value 1.5 is not less than exclusiveMaximum 1.5");
}

TEST(JsonSchema, EnforcesMultipleOfForIntegers) {
  EXPECT_EQ(validate(R"({"multipleOf": 3})"_json, -9), "valid");
  EXPECT_EQ(validate(R"({"multipleOf": 3})"_json, 10), "$: value 10 is not a multiple of 3");
}

TEST(JsonSchema, ToleratesFloatingPointRoundingInMultipleOf) {
  EXPECT_EQ(validate(R"({"multipleOf": 0.1})"_json, 0.3), "valid");
  EXPECT_EQ(validate(R"({"multipleOf": 0.1})"_json, 0.35), "$: value 0.35 is not a multiple of 0.1");
}

// ---- combinators --------------------------------------------------------------------------------

TEST(JsonSchema, AcceptsAValueMatchingAnyAnyOfAlternative) {
  EXPECT_EQ(validate(R"({"anyOf": [{"type": "string"}, {"type": "integer"}]})"_json, 3), "valid");
}

TEST(JsonSchema, ExplainsWhichAnyOfAlternativesFailed) {
  const json schema = R"({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})"_json;
  EXPECT_EQ(validate(schema, true),
            "$: does not match any of the 3 alternatives of anyOf: [0] $: expected string, got boolean; "
            "[1] $: expected integer, got boolean; [2] $: expected null, got boolean");
}

TEST(JsonSchema, AcceptsAValueMatchingExactlyOneOneOfAlternative) {
  EXPECT_EQ(validate(R"({"oneOf": [{"type": "string"}, {"type": "integer"}]})"_json, "x"), "valid");
}

TEST(JsonSchema, RejectsAValueMatchingTwoOneOfAlternatives) {
  EXPECT_EQ(validate(R"({"oneOf": [{"type": "number"}, {"type": "integer"}]})"_json, 3),
            "$: matches 2 alternatives of oneOf, expected exactly one (indices 0, 1)");
}

TEST(JsonSchema, RejectsAValueMatchingNoOneOfAlternative) {
  EXPECT_EQ(validate(R"({"oneOf": [{"type": "string"}, {"minimum": 10}]})"_json, 3),
            "$: does not match any of the 2 alternatives of oneOf: [0] $: expected string, got integer; "
            "[1] $: value 3 is less than minimum 10");
}

TEST(JsonSchema, ReportsTheFirstFailingAllOfBranch) {
  const json schema = R"({"allOf": [{"type": "integer"}, {"minimum": 5}, {"maximum": 1}]})"_json;
  EXPECT_EQ(validate(schema, 3), "$: value 3 is less than minimum 5");
}

TEST(JsonSchema, RejectsAValueMatchingNot) {
  EXPECT_EQ(validate(R"({"not": {"type": "null"}})"_json, 1), "valid");
  EXPECT_EQ(validate(R"({"not": {"type": "null"}})"_json, nullptr), "$: value null must not match the schema in 'not'");
}

TEST(JsonSchema, AppliesThenWhenIfMatches) {
  const json schema = R"({"if": {"properties": {"kind": {"const": "file"}}},
                          "then": {"required": ["path"]}, "else": {"required": ["url"]}})"_json;
  EXPECT_EQ(validate(schema, R"({"kind": "file"})"_json), "$: missing required property 'path'");
}

TEST(JsonSchema, AppliesElseWhenIfFails) {
  const json schema = R"({"if": {"properties": {"kind": {"const": "file"}}},
                          "then": {"required": ["path"]}, "else": {"required": ["url"]}})"_json;
  EXPECT_EQ(validate(schema, R"({"kind": "web"})"_json), "$: missing required property 'url'");
}

TEST(JsonSchema, IgnoresThenAndElseWithoutIf) {
  EXPECT_EQ(validate(R"({"then": false, "else": false})"_json, 1), "valid");
}

// ---- boolean schemas ----------------------------------------------------------------------------

TEST(JsonSchema, TrueSchemaAcceptsEverything) { EXPECT_EQ(validate(true, R"({"anything": [1, null]})"_json), "valid"); }

TEST(JsonSchema, FalseSchemaRejectsEverything) {
  EXPECT_EQ(validate(false, nullptr), "$: no value is allowed here (schema is false)");
}

TEST(JsonSchema, FalseSchemaInPropertiesForbidsThatProperty) {
  EXPECT_EQ(validate(R"({"properties": {"secret": false}})"_json, R"({"secret": 1})"_json),
            "$.secret: no value is allowed here (schema is false)");
}

// ---- $ref ---------------------------------------------------------------------------------------

TEST(JsonSchema, ResolvesRefIntoDefs) {
  const json schema = R"({"$defs": {"id": {"type": "integer"}}, "properties": {"id": {"$ref": "#/$defs/id"}}})"_json;
  EXPECT_EQ(validate(schema, R"({"id": "x"})"_json), "$.id: expected integer, got string");
}

TEST(JsonSchema, ResolvesRefIntoDefinitions) {
  const json schema = R"({"definitions": {"s": {"type": "string"}}, "items": {"$ref": "#/definitions/s"}})"_json;
  EXPECT_EQ(validate(schema, R"(["a", 1])"_json), "$[1]: expected string, got integer");
}

TEST(JsonSchema, ResolvesEscapedPointerTokens) {
  const json schema = R"({"$defs": {"a/b": {"type": "string"}, "c~d": {"type": "null"}},
                          "prefixItems": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c~0d"}]})"_json;
  EXPECT_EQ(validate(schema, R"(["x", null])"_json), "valid");
  EXPECT_EQ(validate(schema, R"(["x", 1])"_json), "$[1]: expected null, got integer");
}

TEST(JsonSchema, AppliesKeywordsNextToRef) {
  const json schema = R"({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n", "minimum": 10})"_json;
  EXPECT_EQ(validate(schema, 12), "valid");
  EXPECT_EQ(validate(schema, 2), "$: value 2 is less than minimum 10");
}

TEST(JsonSchema, ValidatesARecursiveTreeSchema) {
  const json schema = R"({
    "$defs": {"node": {"type": "object", "required": ["value"],
                       "properties": {"value": {"type": "integer"},
                                      "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
    "$ref": "#/$defs/node"})"_json;
  EXPECT_EQ(validate(schema, R"({"value": 1, "children": [{"value": 2}, {"value": 3, "children": []}]})"_json),
            "valid");
  EXPECT_EQ(
      validate(schema, R"({"value": 1, "children": [{"value": 2}, {"value": 3, "children": [{"value": "x"}]}]})"_json),
      "$.children[1].children[0].value: expected integer, got string");
}

TEST(JsonSchema, ResolvesRefToTheRootSchema) {
  const json schema = R"({"type": "array", "items": {"$ref": "#"}})"_json;
  EXPECT_EQ(validate(schema, R"([[], [[]]])"_json), "valid");
  EXPECT_EQ(validate(schema, R"([[], [1]])"_json), "$[1][0]: expected array, got integer");
}

TEST(JsonSchema, ReportsASelfRecursiveRefLoopInsteadOfCrashing) {
  const json schema = R"({"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#/$defs/loop"})"_json;
  auto v = loomflow::validate_json(schema, 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->path, "$");
  EXPECT_NE(v->message.find("infinite $ref recursion"), std::string::npos) << v->message;
}

TEST(JsonSchema, ReportsARefLoopThroughAnyOfWithoutExponentialRetries) {
  const json schema =
      R"({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"})"_json;
  auto v = loomflow::validate_json(schema, 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->message.find("infinite $ref recursion"), std::string::npos) << v->message;
}

TEST(JsonSchema, RejectsAnInstanceNestedTooDeeplyForARecursiveSchema) {
  json deep = json::array();
  for (int i = 0; i < 1000; ++i) {
    json outer = json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  auto v = loomflow::validate_json(R"({"items": {"$ref": "#"}})"_json, deep);
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->message.find("nested deeper than"), std::string::npos) << v->message;
}

// ---- paths and order ----------------------------------------------------------------------------

TEST(JsonSchema, FormatsNestedPathsWithDotsAndIndices) {
  const json schema = R"({"properties": {"items": {"items": {"properties": {"name": {"type": "string"}}}}}})"_json;
  EXPECT_EQ(validate(schema, R"({"items": [{}, {"name": "a"}, {"name": 1}]})"_json),
            "$.items[2].name: expected string, got integer");
}

TEST(JsonSchema, QuotesKeysThatAreNotIdentifiersInPaths) {
  const json schema = R"({"additionalProperties": {"type": "string"}})"_json;
  EXPECT_EQ(validate(schema, R"({"first name": 1})"_json), R"($["first name"]: expected string, got integer)");
  EXPECT_EQ(validate(schema, R"({"9lives": 1})"_json), R"($["9lives"]: expected string, got integer)");
  EXPECT_EQ(validate(schema, R"({"say \"hi\"": 1})"_json), R"($["say \"hi\""]: expected string, got integer)");
  EXPECT_EQ(validate(schema, R"({"_ok9": 1})"_json), "$._ok9: expected string, got integer");
}

TEST(JsonSchema, ReportsDeclaredPropertiesInTheOrderOfTheSchemasProperties) {
  const json schema = R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})"_json;
  EXPECT_EQ(validate(schema, R"({"b": "x", "a": "y"})"_json), "$.a: expected integer, got string");
}

TEST(JsonSchema, ReportsDeclaredPropertiesBeforeUndeclaredOnes) {
  const json schema = R"({"properties": {"zz": {"type": "integer"}}, "additionalProperties": false})"_json;
  EXPECT_EQ(validate(schema, R"({"aa": 1, "zz": "x"})"_json), "$.zz: expected integer, got string");
}

TEST(JsonSchema, ReportsMissingRequiredPropertiesBeforeBadValues) {
  const json schema = R"({"required": ["b"], "properties": {"a": {"type": "integer"}}})"_json;
  EXPECT_EQ(validate(schema, R"({"a": "x"})"_json), "$: missing required property 'b'");
}

TEST(JsonSchema, ChecksTypeBeforeOtherKeywords) {
  EXPECT_EQ(validate(R"({"minimum": 5, "type": "string"})"_json, 1), "$: expected string, got integer");
}

TEST(JsonSchema, IgnoresAnnotationsAndUnknownKeywords) {
  const json schema = R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "T",
                          "description": "D", "default": 1, "examples": [1], "x-custom": {"type": 5}})"_json;
  EXPECT_EQ(validate(schema, "anything"), "valid");
}

TEST(JsonSchema, FormatsAViolationAsPathColonMessage) {
  EXPECT_EQ((loomflow::SchemaViolation{"$.a", "bad"}).to_string(), "$.a: bad");
}

// ---- robustness ---------------------------------------------------------------------------------

TEST(JsonSchema, ReportsAnInvalidPatternAsAViolation) {
  auto v = loomflow::validate_json(R"({"pattern": "("})"_json, "x");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->message.find("invalid regular expression"), std::string::npos) << v->message;
}

TEST(JsonSchema, ReportsAMalformedSchemaAsAViolationInsteadOfThrowing) {
  EXPECT_EQ(validate(R"({"minLength": "3"})"_json, "x"),
            R"($: invalid schema: $.minLength: 'minLength' must be a non-negative integer, got "3")");
}

TEST(JsonSchema, DoesNotThrowOnInvalidUtf8InTheInstance) {
  auto v = loomflow::validate_json(R"({"enum": ["a"]})"_json, std::string("\xFF\xFE"));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->path, "$");
}

// ---- check_schema -------------------------------------------------------------------------------

TEST(JsonSchema, CheckSchemaAcceptsAWellFormedSchema) {
  const json schema = R"({"type": "object", "required": ["a"], "additionalProperties": false,
                          "properties": {"a": {"type": ["string", "null"], "pattern": "^x", "maxLength": 3.0},
                                         "b": {"$ref": "#/$defs/b"}},
                          "$defs": {"b": {"anyOf": [true, {"enum": [1]}], "multipleOf": 0.5}}})"_json;
  EXPECT_EQ(check(schema), "valid");
  EXPECT_EQ(check(true), "valid");
}

TEST(JsonSchema, CheckSchemaRejectsASchemaThatIsNotAnObjectOrBoolean) {
  EXPECT_EQ(check("string"), R"($: a schema must be an object or a boolean, got "string")");
}

TEST(JsonSchema, CheckSchemaRejectsANonStringType) {
  EXPECT_EQ(check(R"({"type": 5})"_json),
            "$.type: 'type' must be a type name or a non-empty array of type names, got 5");
}

TEST(JsonSchema, CheckSchemaRejectsAnUnknownTypeName) {
  EXPECT_EQ(check(R"({"type": ["string", "float"]})"_json),
            R"($.type: unknown type "float" (expected object, array, string, integer, number, boolean or null))");
}

TEST(JsonSchema, CheckSchemaRejectsRequiredThatIsNotAnArrayOfStrings) {
  EXPECT_EQ(check(R"({"required": "x"})"_json), R"($.required: 'required' must be an array of strings, got "x")");
}

TEST(JsonSchema, CheckSchemaRejectsAnUnresolvableRef) {
  EXPECT_EQ(check(R"({"$ref": "#/$defs/missing"})"_json), R"($["$ref"]: cannot resolve $ref "#/$defs/missing")");
}

TEST(JsonSchema, CheckSchemaRejectsARemoteRef) {
  EXPECT_EQ(check(R"({"$ref": "https://example.com/s.json"})"_json),
            R"($["$ref"]: '$ref' must be a local reference starting with '#', got "https://example.com/s.json")");
}

TEST(JsonSchema, CheckSchemaRejectsAnInvalidPattern) {
  auto v = loomflow::check_schema(R"({"pattern": "("})"_json);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->path, "$.pattern");
  EXPECT_NE(v->message.find(R"(invalid regular expression "(")"), std::string::npos) << v->message;
}

TEST(JsonSchema, CheckSchemaRejectsAnInvalidPatternPropertiesKey) {
  auto v = loomflow::check_schema(R"({"patternProperties": {"[": {}}})"_json);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->path, R"($.patternProperties["["])");
}

TEST(JsonSchema, CheckSchemaRejectsANegativeMinLength) {
  EXPECT_EQ(check(R"({"minLength": -1})"_json), "$.minLength: 'minLength' must be a non-negative integer, got -1");
}

TEST(JsonSchema, CheckSchemaRejectsANonPositiveMultipleOf) {
  EXPECT_EQ(check(R"({"multipleOf": 0})"_json), "$.multipleOf: 'multipleOf' must be a number greater than 0, got 0");
}

TEST(JsonSchema, CheckSchemaRejectsAnEmptyAnyOf) {
  EXPECT_EQ(check(R"({"anyOf": []})"_json), "$.anyOf: 'anyOf' must be a non-empty array of schemas, got []");
}

TEST(JsonSchema, CheckSchemaRejectsArrayFormItems) {
  EXPECT_EQ(check(R"({"items": [{}]})"_json),
            "$.items: 'items' must be a schema (for tuples use prefixItems), got [{}]");
}

TEST(JsonSchema, CheckSchemaPointsIntoNestedSchemas) {
  EXPECT_EQ(check(R"({"properties": {"age": {"minimum": "0"}}, "allOf": [{}, {"uniqueItems": 1}]})"_json),
            "$.allOf[1].uniqueItems: 'uniqueItems' must be a boolean, got 1");
  EXPECT_EQ(check(R"({"$defs": {"x y": {"not": 3}}})"_json),
            R"($["$defs"]["x y"].not: a schema must be an object or a boolean, got 3)");
}

TEST(JsonSchema, CheckSchemaChecksRefTargetsOutsideTheSchemaTree) {
  EXPECT_EQ(check(R"({"enum": [{"type": 5}], "$ref": "#/enum/0"})"_json),
            "$.enum[0].type: 'type' must be a type name or a non-empty array of type names, got 5");
}

TEST(JsonSchema, CheckSchemaAcceptsASelfReferencingSchema) {
  EXPECT_EQ(check(R"({"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#"})"_json), "valid");
}

// ---- CheckedSchema -------------------------------------------------------------------------------

TEST(JsonSchema, ACheckedSchemaValidatesExactlyAsTheSchemaItWasMadeFrom) {
  const json schema = R"({"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["age"]})"_json;
  auto checked = loomflow::CheckedSchema::check(schema);
  ASSERT_TRUE(checked) << checked.error().describe();
  for (const json& instance : {R"({"age": 3})"_json, R"({"age": -1})"_json, R"({})"_json, R"({"age": "3"})"_json}) {
    auto v = loomflow::validate_json(*checked, instance);
    EXPECT_EQ(v ? v->to_string() : "valid", validate(schema, instance)) << instance.dump();
  }
}

TEST(JsonSchema, ACheckedSchemaIsRefusedWhenItIsNotAValidSchemaNamingWhere) {
  auto checked = loomflow::CheckedSchema::check(R"({"properties": {"age": {"minimum": "0"}}})"_json);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, loomflow::ErrorCode::invalid_argument);
  EXPECT_EQ(checked.error().message,
            "is not a valid JSON Schema: $.properties.age.minimum: 'minimum' must be a number, got \"0\"");
}

TEST(JsonSchema, ACheckedSchemaParsedFromTextThatIsNotJsonSaysSo) {
  auto checked = loomflow::CheckedSchema::parse(R"({"type": )");
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().message.rfind("is not valid JSON: ", 0), 0u) << checked.error().message;
}

TEST(JsonSchema, ACheckedSchemaStillRefusesAnInstanceNestedTooDeep) {
  auto checked = loomflow::CheckedSchema::parse("{}");
  ASSERT_TRUE(checked);
  json deep = json::array();
  for (int i = 0; i < 300; ++i) deep = json::array({deep});
  auto v = loomflow::validate_json(*checked, deep);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->path, "$");
}

}  // namespace
