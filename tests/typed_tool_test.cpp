// Function tools with typed parameters: the JSON Schema generated from C++ types, arguments
// validated and converted into the struct, and every bad argument a tool error the model can
// correct — never a crash or an exception through the run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/typed.hpp"
#include "test_support.hpp"

using namespace loomflow;
using nlohmann::json;
using loomflow::testing::shared_runtime;

namespace {

struct Scalars {
  int count = 0;
  double ratio = 0;
  std::string label;
  bool enabled = false;
};
LOOMFLOW_TOOL_ARGS(Scalars, count, ratio, label, enabled);

struct Widths {
  std::int8_t tiny = 0;
  std::uint16_t small = 0;
  std::int64_t big = 0;
  std::uint64_t huge = 0;
  float single = 0;
};
LOOMFLOW_TOOL_ARGS(Widths, tiny, small, big, huge, single);

enum class Unit { celsius, fahrenheit };
LOOMFLOW_TOOL_ENUM(Unit, {Unit::celsius, "celsius"}, {Unit::fahrenheit, "fahrenheit"});

struct Forecast {
  std::string city;
  std::optional<int> days;
  Unit unit = Unit::celsius;
  std::optional<Unit> fallback;
};
LOOMFLOW_TOOL_ARGS(Forecast, city, days, unit, fallback);

struct Lists {
  std::vector<int> numbers;
  std::vector<std::vector<std::string>> grid;
  std::vector<bool> flags;
};
LOOMFLOW_TOOL_ARGS(Lists, numbers, grid, flags);

struct Point {
  double x = 0;
  double y = 0;
};
LOOMFLOW_TOOL_ARGS(Point, x, y);
void describe(tools::Describe<Point>& d) { d.description("A point on the map.").field(&Point::x, "East, in km."); }

struct Route {
  std::string name;
  Point start;
  std::vector<Point> stops;
  std::optional<Point> detour;
};
LOOMFLOW_TOOL_ARGS(Route, name, start, stops, detour);
void describe(tools::Describe<Route>& d) {
  d.description("A route.").field(&Route::start, "Where it begins.").field(&Route::stops, "In visiting order.");
}

struct NoParameters {};
LOOMFLOW_TOOL_ARGS(NoParameters);

struct Wide {
  int f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0, f6 = 0, f7 = 0, f8 = 0, f9 = 0;
  int f10 = 0, f11 = 0, f12 = 0, f13 = 0, f14 = 0, f15 = 0, f16 = 0, f17 = 0;
};
LOOMFLOW_TOOL_ARGS(Wide, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17);

struct Tree {
  std::string label;
  std::vector<Tree> children;
};
LOOMFLOW_TOOL_ARGS(Tree, label, children);

struct Misdescribed {
  int listed = 0;
  int unlisted = 0;
};
LOOMFLOW_TOOL_ARGS(Misdescribed, listed);
void describe(tools::Describe<Misdescribed>& d) { d.field(&Misdescribed::unlisted, "not in the schema"); }

enum class Twice { a, b };
LOOMFLOW_TOOL_ENUM(Twice, {Twice::a, "same"}, {Twice::b, "same"});
struct UsesTwice {
  Twice value = Twice::a;
};
LOOMFLOW_TOOL_ARGS(UsesTwice, value);

const UserId kUser{"user"};
const SessionId kSession{"session"};

// Calls a tool's function as the runtime would.
Expected<std::string> invoke(const Tool& tool, std::string_view arguments) {
  ToolContext ctx{kUser, kSession, "agent/turn-1/tool-0", "session/agent/turn-1/tool-0"};
  return tool.impl().fn(ctx, arguments);
}

// A tool that records the arguments it was called with.
template <class Args>
struct Recorder {
  std::shared_ptr<std::optional<Args>> seen = std::make_shared<std::optional<Args>>();
  Tool tool = tools::typed_tool<Args>("record", "Records its arguments.",
                                      [seen = seen](const ToolContext&, const Args& args) -> Expected<std::string> {
                                        *seen = args;
                                        return std::string("recorded");
                                      })
                  .value();
};

// The tool error for `arguments`, and that the function never saw them.
template <class Args>
Error rejection(std::string_view arguments) {
  Recorder<Args> recorder;
  auto result = invoke(recorder.tool, arguments);
  EXPECT_FALSE(result) << "accepted: " << arguments;
  EXPECT_FALSE(recorder.seen->has_value()) << "the function ran for " << arguments;
  if (result) return Error{};
  EXPECT_EQ(result.error().code, ErrorCode::tool_error);
  return result.error();
}

}  // namespace

// ---- Schemas ----

TEST(TypedToolSchema, ScalarsAreIntegerNumberStringAndBooleanAndAllRequiredInDeclarationOrder) {
  EXPECT_EQ(tools::tool_schema<Scalars>(), json::parse(R"({
    "type": "object",
    "properties": {
      "count": {"type": "integer"},
      "ratio": {"type": "number"},
      "label": {"type": "string"},
      "enabled": {"type": "boolean"}
    },
    "required": ["count", "ratio", "label", "enabled"],
    "additionalProperties": false
  })"));
}

TEST(TypedToolSchema, IntegersOfEveryWidthAreIntegersAndFloatIsANumber) {
  EXPECT_EQ(tools::tool_schema<Widths>()["properties"], json::parse(R"({
    "tiny": {"type": "integer"}, "small": {"type": "integer"}, "big": {"type": "integer"},
    "huge": {"type": "integer"}, "single": {"type": "number"}
  })"));
}

TEST(TypedToolSchema, OptionalFieldsHaveTheirValueTypesSchemaAndAreNotRequired) {
  EXPECT_EQ(tools::tool_schema<Forecast>(), json::parse(R"({
    "type": "object",
    "properties": {
      "city": {"type": "string"},
      "days": {"type": "integer"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
      "fallback": {"type": "string", "enum": ["celsius", "fahrenheit"]}
    },
    "required": ["city", "unit"],
    "additionalProperties": false
  })"));
}

TEST(TypedToolSchema, AnEnumIsAStringListingItsNamesInDeclarationOrder) {
  EXPECT_EQ(tools::tool_schema<Forecast>()["properties"]["unit"]["enum"], json::parse(R"(["celsius", "fahrenheit"])"));
}

TEST(TypedToolSchema, VectorsAreArraysOfTheirElementSchema) {
  EXPECT_EQ(tools::tool_schema<Lists>()["properties"], json::parse(R"({
    "numbers": {"type": "array", "items": {"type": "integer"}},
    "grid": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    "flags": {"type": "array", "items": {"type": "boolean"}}
  })"));
}

TEST(TypedToolSchema, NestedStructsAndArraysOfStructsAreObjectSchemasWithTheirDescriptions) {
  EXPECT_EQ(tools::tool_schema<Route>(), json::parse(R"({
    "type": "object",
    "description": "A route.",
    "properties": {
      "name": {"type": "string"},
      "start": {
        "type": "object", "description": "Where it begins.",
        "properties": {"x": {"type": "number", "description": "East, in km."}, "y": {"type": "number"}},
        "required": ["x", "y"], "additionalProperties": false
      },
      "stops": {
        "type": "array", "description": "In visiting order.",
        "items": {
          "type": "object", "description": "A point on the map.",
          "properties": {"x": {"type": "number", "description": "East, in km."}, "y": {"type": "number"}},
          "required": ["x", "y"], "additionalProperties": false
        }
      },
      "detour": {
        "type": "object", "description": "A point on the map.",
        "properties": {"x": {"type": "number", "description": "East, in km."}, "y": {"type": "number"}},
        "required": ["x", "y"], "additionalProperties": false
      }
    },
    "required": ["name", "start", "stops"],
    "additionalProperties": false
  })"));
}

TEST(TypedToolSchema, AStructWithoutFieldsIsAnEmptyObject) {
  EXPECT_EQ(tools::tool_schema<NoParameters>(),
            json::parse(R"({"type":"object","properties":{},"required":[],"additionalProperties":false})"));
}

TEST(TypedToolSchema, SeventeenFieldsAreAllListedInOrder) {
  auto schema = tools::tool_schema<Wide>();
  EXPECT_EQ(schema["properties"].size(), 17u);
  EXPECT_EQ(schema["required"], json::parse(R"(["f1","f2","f3","f4","f5","f6","f7","f8","f9","f10","f11","f12",
                                                "f13","f14","f15","f16","f17"])"));
}

TEST(TypedTool, AdvertisesTheGeneratedSchemaNameAndDescriptionToTheModel) {
  auto tool = tools::typed_tool<Forecast>("forecast", "Weather forecast.",
                                          [](const Forecast& f) { return "sunny in " + f.city; });
  ASSERT_TRUE(tool) << tool.error().describe();
  EXPECT_EQ(tool->spec().name, "forecast");
  EXPECT_EQ(tool->spec().description, "Weather forecast.");
  EXPECT_EQ(json::parse(tool->spec().parameters_schema), tools::tool_schema<Forecast>());
}

TEST(TypedTool, ARecursiveStructIsRefusedWhenTheToolIsMade) {
  auto tool = tools::typed_tool<Tree>("tree", "", [](const Tree&) { return std::string(); });
  ASSERT_FALSE(tool);
  EXPECT_EQ(tool.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(tool.error().message, "tool 'tree': Tree contains itself; recursive types are not supported");
  EXPECT_THROW(tools::tool_schema<Tree>(), std::invalid_argument);
}

TEST(TypedTool, DescribingAMemberNotListedInToolArgsIsRefused) {
  auto tool = tools::typed_tool<Misdescribed>("m", "", [](const Misdescribed&) { return std::string(); });
  ASSERT_FALSE(tool);
  EXPECT_EQ(tool.error().message,
            "tool 'm': describe() names a member of Misdescribed that LOOMFLOW_TOOL_ARGS does not list");
}

TEST(TypedTool, AnEnumRepeatingANameIsRefused) {
  auto tool = tools::typed_tool<UsesTwice>("twice", "", [](const UsesTwice&) { return std::string(); });
  ASSERT_FALSE(tool);
  EXPECT_NE(tool.error().message.find("LOOMFLOW_TOOL_ENUM repeats the name 'same'"), std::string::npos)
      << tool.error().message;
}

TEST(TypedTool, AnInvalidToolNameIsRefused) {
  auto tool = tools::typed_tool<Scalars>("has space", "", [](const Scalars&) { return std::string(); });
  ASSERT_FALSE(tool);
  EXPECT_EQ(tool.error().code, ErrorCode::invalid_argument);
}

// ---- Valid arguments ----

TEST(TypedTool, ScalarArgumentsReachTheFunctionConverted) {
  Recorder<Scalars> r;
  auto result = invoke(r.tool, R"({"count": -3, "ratio": 0.25, "label": "x\u00e9", "enabled": true})");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(*result, "recorded");
  ASSERT_TRUE(r.seen->has_value());
  const Scalars& s = **r.seen;
  EXPECT_EQ(s.count, -3);
  EXPECT_EQ(s.ratio, 0.25);
  EXPECT_EQ(s.label, "x\xC3\xA9");
  EXPECT_TRUE(s.enabled);
}

TEST(TypedTool, IntegersAcceptTheFullRangeOfTheirCppType) {
  Recorder<Widths> r;
  auto result = invoke(r.tool, R"({"tiny": -128, "small": 65535, "big": -9223372036854775808,
                                   "huge": 18446744073709551615, "single": 1.5})");
  ASSERT_TRUE(result) << result.error().describe();
  const Widths& w = **r.seen;
  EXPECT_EQ(w.tiny, -128);
  EXPECT_EQ(w.small, 65535);
  EXPECT_EQ(w.big, std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(w.huge, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(w.single, 1.5f);
}

TEST(TypedTool, AnIntegralNumberWrittenWithAFractionIsAnInteger) {
  Recorder<Scalars> r;
  auto result = invoke(r.tool, R"({"count": 3.0, "ratio": 1, "label": "", "enabled": false})");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ((*r.seen)->count, 3);
  EXPECT_EQ((*r.seen)->ratio, 1.0);
}

TEST(TypedTool, EnumsAndPresentOptionalsAreConverted) {
  Recorder<Forecast> r;
  auto result = invoke(r.tool, R"({"city": "Oslo", "days": 3, "unit": "fahrenheit", "fallback": "celsius"})");
  ASSERT_TRUE(result) << result.error().describe();
  const Forecast& f = **r.seen;
  EXPECT_EQ(f.city, "Oslo");
  EXPECT_EQ(f.days, 3);
  EXPECT_EQ(f.unit, Unit::fahrenheit);
  EXPECT_EQ(f.fallback, Unit::celsius);
}

TEST(TypedTool, AnAbsentOrNullOptionalIsNullopt) {
  Recorder<Forecast> r;
  ASSERT_TRUE(invoke(r.tool, R"({"city": "Oslo", "unit": "celsius", "fallback": null})"));
  EXPECT_EQ((*r.seen)->days, std::nullopt);
  EXPECT_EQ((*r.seen)->fallback, std::nullopt);
}

TEST(TypedTool, VectorsAreConvertedElementByElement) {
  Recorder<Lists> r;
  auto result = invoke(r.tool, R"({"numbers": [1, 2, 3], "grid": [["a"], [], ["b", "c"]], "flags": [true, false]})");
  ASSERT_TRUE(result) << result.error().describe();
  const Lists& l = **r.seen;
  EXPECT_EQ(l.numbers, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(l.grid, (std::vector<std::vector<std::string>>{{"a"}, {}, {"b", "c"}}));
  EXPECT_EQ(l.flags, (std::vector<bool>{true, false}));
}

TEST(TypedTool, NestedStructsAndArraysOfStructsAreConverted) {
  Recorder<Route> r;
  auto result = invoke(r.tool, R"({"name": "loop", "start": {"x": 1, "y": 2},
                                   "stops": [{"x": 3, "y": 4}, {"x": 5.5, "y": -6}], "detour": {"x": 0, "y": 0}})");
  ASSERT_TRUE(result) << result.error().describe();
  const Route& route = **r.seen;
  EXPECT_EQ(route.name, "loop");
  EXPECT_EQ(route.start.y, 2.0);
  ASSERT_EQ(route.stops.size(), 2u);
  EXPECT_EQ(route.stops[1].x, 5.5);
  EXPECT_EQ(route.stops[1].y, -6.0);
  ASSERT_TRUE(route.detour.has_value());
}

TEST(TypedTool, EmptyArgumentsTextMeansAnEmptyObject) {
  Recorder<NoParameters> r;
  EXPECT_TRUE(invoke(r.tool, ""));
  EXPECT_TRUE(invoke(r.tool, "{}"));
}

TEST(TypedTool, TheFunctionsErrorGoesBackUnchanged) {
  auto tool = tools::typed_tool<Scalars>("picky", "", [](const ToolContext&, const Scalars& s) -> Expected<std::string> {
                return Error{ErrorCode::tool_error, "count must be positive, got " + std::to_string(s.count)};
              }).value();
  auto result = invoke(tool, R"({"count": -1, "ratio": 0, "label": "", "enabled": true})");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "count must be positive, got -1");
}

TEST(TypedTool, TheFunctionSeesTheToolContext) {
  auto tool = tools::typed_tool<NoParameters>("ctx", "", [](const ToolContext& ctx, const NoParameters&) {
                return std::string(ctx.step_name);
              }).value();
  auto result = invoke(tool, "{}");
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, "agent/turn-1/tool-0");
}

// ---- Invalid arguments: tool errors naming the JSON path ----

TEST(TypedTool, AWrongTypeIsAToolErrorNamingThePath) {
  EXPECT_EQ(rejection<Scalars>(R"({"count": "3", "ratio": 0, "label": "", "enabled": true})").message,
            "invalid arguments: $.count: expected integer, got string");
}

TEST(TypedTool, AWrongTypeDeepInsideIsAToolErrorNamingTheFullPath) {
  EXPECT_EQ(rejection<Route>(R"({"name": "r", "start": {"x": 0, "y": 0}, "stops": [{"x": 1, "y": 1}, {"x": "2", "y": 2}]})")
                .message,
            "invalid arguments: $.stops[1].x: expected number, got string");
}

TEST(TypedTool, AMissingRequiredFieldIsAToolErrorNamingTheObjectAndTheField) {
  EXPECT_EQ(rejection<Scalars>(R"({"count": 3, "ratio": 0, "enabled": true})").message,
            "invalid arguments: $: missing required property 'label'");
  EXPECT_EQ(rejection<Route>(R"({"name": "r", "start": {"x": 0}, "stops": []})").message,
            "invalid arguments: $.start: missing required property 'y'");
}

TEST(TypedTool, AnUnknownFieldIsAToolError) {
  EXPECT_EQ(rejection<Forecast>(R"({"city": "Oslo", "unit": "celsius", "colour": "red"})").message,
            "invalid arguments: $: unknown property 'colour' (additionalProperties is false)");
}

TEST(TypedTool, ANameOutsideTheEnumIsAToolError) {
  EXPECT_EQ(rejection<Forecast>(R"({"city": "Oslo", "unit": "kelvin"})").message,
            R"(invalid arguments: $.unit: value "kelvin" is not one of ["celsius","fahrenheit"])");
}

TEST(TypedTool, ANonIntegralNumberForAnIntegerIsAToolError) {
  EXPECT_EQ(rejection<Scalars>(R"({"count": 2.5, "ratio": 0, "label": "", "enabled": true})").message,
            "invalid arguments: $.count: expected integer, got number");
  EXPECT_EQ(rejection<Lists>(R"({"numbers": [1, 1.5], "grid": [], "flags": []})").message,
            "invalid arguments: $.numbers[1]: expected integer, got number");
}

TEST(TypedTool, AnIntegerOutsideTheCppTypesRangeIsAToolErrorStatingTheRange) {
  EXPECT_EQ(rejection<Widths>(R"({"tiny": 128, "small": 0, "big": 0, "huge": 0, "single": 0})").message,
            "invalid arguments: $.tiny: 128 is out of range (-128 to 127)");
  EXPECT_EQ(rejection<Widths>(R"({"tiny": 0, "small": 0, "big": 0, "huge": -1, "single": 0})").message,
            "invalid arguments: $.huge: -1 is out of range (0 to 18446744073709551615)");
  EXPECT_EQ(rejection<Widths>(R"({"tiny": 0, "small": 0, "big": 9223372036854775808, "huge": 0, "single": 0})").message,
            "invalid arguments: $.big: 9223372036854775808 is out of range (-9223372036854775808 to 9223372036854775807)");
  EXPECT_EQ(rejection<Widths>(R"({"tiny": 0, "small": 70000.0, "big": 0, "huge": 0, "single": 0})").message,
            "invalid arguments: $.small: 70000.0 is out of range (0 to 65535)");
  EXPECT_EQ(rejection<Scalars>(R"({"count": 1e300, "ratio": 0, "label": "", "enabled": true})").message,
            "invalid arguments: $.count: 1e+300 is out of range (-2147483648 to 2147483647)");
}

TEST(TypedTool, MalformedJsonIsAToolError) {
  auto error = rejection<Scalars>(R"({"count": 3,)");
  EXPECT_EQ(error.message.rfind("arguments are not valid JSON: ", 0), 0u) << error.message;
}

TEST(TypedTool, ArgumentsThatAreNotAnObjectAreAToolErrorAtTheRoot) {
  EXPECT_EQ(rejection<Scalars>("[1, 2]").message, "invalid arguments: $: expected object, got array");
}

TEST(TypedTool, DeeplyNestedArgumentsAreAToolErrorNotACrash) {
  std::string deep = R"({"numbers": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_NE(rejection<Lists>(deep).message.find("nested deeper than"), std::string::npos);
}

TEST(TypedTool, AnExceptionFromTheFunctionIsAToolErrorNamingTheTool) {
  auto tool = tools::typed_tool<NoParameters>("thrower", "", [](const NoParameters&) -> std::string {
                throw std::runtime_error("disk on fire");
              }).value();
  auto result = invoke(tool, "{}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::tool_error);
  EXPECT_EQ(result.error().message, "tool 'thrower' threw an exception: disk on fire");
}

TEST(TypedTool, ConcurrentCallsEachSeeTheirOwnArguments) {
  auto tool = tools::typed_tool<Scalars>("echo", "", [](const Scalars& s) { return s.label + "/" + std::to_string(s.count); })
                  .value();
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string label = "t" + std::to_string(t);
        auto args = json{{"count", i}, {"ratio", 0.5}, {"label", label}, {"enabled", true}}.dump();
        auto result = invoke(tool, args);
        if (!result || *result != label + "/" + std::to_string(i)) ++mismatches;
        if (invoke(tool, R"({"count": "x"})")) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- In an agent run ----

TEST(TypedTool, AnAgentCorrectsInvalidArgumentsAfterSeeingTheToolError) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto forecast = tools::typed_tool<Forecast>("forecast", "Weather forecast.",
                                              [calls](const ToolContext&, const Forecast& f) -> Expected<std::string> {
                                                ++*calls;
                                                return "sunny in " + f.city + " for " + std::to_string(f.days.value_or(1)) + " days";
                                              })
                      .value();
  auto model = providers::scripted({
      {.text = "", .tool_calls = {ToolCall{"c1", "forecast", R"({"city": "Oslo", "days": "two", "unit": "celsius"})"}}},
      {.text = "", .tool_calls = {ToolCall{"c2", "forecast", R"({"city": "Oslo", "days": 2, "unit": "celsius"})"}},
       .expect = "invalid arguments for tool 'forecast': $.days: expected integer, got string"},
      {.text = "done", .expect = "sunny in Oslo for 2 days"},
  });
  auto agent = Agent::create({.name = "weather", .model = model, .tools = {forecast}}).value();
  auto result = shared_runtime().run(agent, "weather in Oslo?");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "done");
  EXPECT_EQ(result->usage.tool_calls, 2u);
  EXPECT_EQ(result->usage.tool_errors, 1u);
  EXPECT_EQ(calls->load(), 1);
  // user, assistant(c1), tool(c1, error), assistant(c2), tool(c2), assistant
  ASSERT_EQ(result->messages.size(), 6u);
  EXPECT_EQ(result->messages[2].tool_call_id, "c1");
  EXPECT_TRUE(result->messages[2].is_error);
  // The runtime checks the arguments against the generated schema before the tool runs.
  EXPECT_EQ(result->messages[2].content, "invalid arguments for tool 'forecast': $.days: expected integer, got string");
  EXPECT_EQ(result->messages[4].tool_call_id, "c2");
  EXPECT_FALSE(result->messages[4].is_error);
  EXPECT_EQ(result->messages[4].content, "sunny in Oslo for 2 days");
  EXPECT_TRUE(providers::verify_consumed(model));
}
