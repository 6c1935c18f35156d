// loomflow/json_schema.hpp — validates JSON values against a JSON Schema (draft 2020-12 subset).
//
// Used to check tool arguments and structured model output before they reach user code. The
// functions report the first problem as a value (a JSON path plus a plain-words message, phrased
// so a model can fix its output) and never throw. Thread-safety: pure functions, no shared state.
//
// Supported keywords: type, enum, const, properties, required, additionalProperties,
// patternProperties, propertyNames, items, prefixItems, minItems, maxItems, uniqueItems,
// minLength, maxLength (UTF-8 code points), pattern (ECMAScript, search), minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, multipleOf, minProperties, maxProperties, anyOf, oneOf,
// allOf, not, if/then/else, boolean schemas, and local $ref ("#", "#/$defs/x", ...) resolved
// against the root schema. Other keywords ("description", "title", "default", ...) are ignored.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "loomflow/error.hpp"

namespace loomflow {

// One schema violation: `path` is a JSON path of the offending value in the instance, rooted at
// "$" (e.g. "$.items[2].name", `$["first name"]`), `message` says what is wrong in plain words
// (e.g. "expected integer, got string", "missing required property 'name'").
struct SchemaViolation {
  std::string path;
  std::string message;
  std::string to_string() const;  // "<path>: <message>"
};

// Validates `instance` against `schema`. Returns the first violation found, or nullopt when
// valid. Order is deterministic: per schema, $ref, then type/const/enum, then the keywords of the
// instance's kind, then allOf/anyOf/oneOf/not/if. In objects: min/maxProperties, required,
// propertyNames, then the schema's "properties" in their order (nlohmann::json keeps keys sorted),
// then the remaining instance properties. A malformed schema (see check_schema) is itself
// reported as a violation at "$", and so is a $ref loop or an instance nested over 256 levels.
std::optional<SchemaViolation> validate_json(const nlohmann::json& schema,
                                             const nlohmann::json& instance);

// Checks that `schema` itself is usable by validate_json: an object or boolean, keywords with the
// right JSON types, regular expressions that compile, local $refs that resolve. Returns a
// violation whose path points into the schema (e.g. "$.properties.age.minimum"), or nullopt.
std::optional<SchemaViolation> check_schema(const nlohmann::json& schema);

// A schema that passed check_schema, kept parsed, for schemas used many times (a tool's
// parameters, an agent's output schema): validating against it skips the check, which costs about
// as much as the validation (it was a third of W5's agent turn). Immutable: share it freely.
class CheckedSchema {
 public:
  // The schema, or an invalid_argument error: "is not valid JSON: ..." or "is not a valid JSON
  // Schema: <path>: <problem>" (callers put the schema's name in front).
  static Expected<CheckedSchema> parse(const std::string& text);
  static Expected<CheckedSchema> check(nlohmann::json schema);

  const nlohmann::json& json() const noexcept { return schema_; }

 private:
  explicit CheckedSchema(nlohmann::json schema) : schema_(std::move(schema)) {}
  nlohmann::json schema_;
};

// validate_json against a schema known to be valid.
std::optional<SchemaViolation> validate_json(const CheckedSchema& schema, const nlohmann::json& instance);

}  // namespace loomflow
