#include "loomflow/tools/builtin.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>
#include <sstream>

#include <nlohmann/json.hpp>

namespace loomflow::tools {

namespace {

std::string transformed(std::string_view in, int (*fn)(int)) {
  std::string out(in);
  std::transform(out.begin(), out.end(), out.begin(), [fn](unsigned char c) { return static_cast<char>(fn(c)); });
  return out;
}

std::size_t count_words(std::string_view text) {
  std::size_t words = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    bool space = std::isspace(c) != 0;
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// Parses tool arguments; a malformed object is an error the model can correct.
Expected<nlohmann::json> parse_arguments(std::string_view tool, std::string_view arguments) {
  try {
    auto json = nlohmann::json::parse(arguments);
    if (!json.is_object()) return Error{ErrorCode::tool_error, std::string(tool) + ": arguments must be a JSON object"};
    return json;
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::tool_error, std::string(tool) + ": arguments are not valid JSON: " + e.what()};
  }
}

}  // namespace

std::map<std::string, NodeFn> builtin_functions() {
  std::map<std::string, NodeFn> fns;
  fns["identity"] = [](const NodeContext& ctx) -> Expected<std::string> { return std::string(ctx.input); };
  fns["uppercase"] = [](const NodeContext& ctx) -> Expected<std::string> { return transformed(ctx.input, ::toupper); };
  fns["lowercase"] = [](const NodeContext& ctx) -> Expected<std::string> { return transformed(ctx.input, ::tolower); };
  fns["trim"] = [](const NodeContext& ctx) -> Expected<std::string> {
    auto b = ctx.input.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return std::string();
    auto e = ctx.input.find_last_not_of(" \t\r\n");
    return std::string(ctx.input.substr(b, e - b + 1));
  };
  fns["word_count"] = [](const NodeContext& ctx) -> Expected<std::string> {
    return std::to_string(count_words(ctx.input));
  };
  return fns;
}

std::map<std::string, Tool> builtin_tools() {
  std::map<std::string, Tool> tools;
  auto word_count = Tool::function(
      "word_count", "Counts the words of a text.",
      R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false})",
      [](const ToolContext&, std::string_view arguments) -> Expected<std::string> {
        auto args = parse_arguments("word_count", arguments);
        if (!args) return args.error();
        auto it = args->find("text");
        if (it == args->end() || !it->is_string())
          return Error{ErrorCode::tool_error, "word_count: \"text\" must be a string"};
        return std::to_string(count_words(it->get<std::string>()));
      },
      ToolOptions{.idempotent = true});
  auto add = Tool::function(
      "add", "Adds two numbers.",
      R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"],"additionalProperties":false})",
      [](const ToolContext&, std::string_view arguments) -> Expected<std::string> {
        auto args = parse_arguments("add", arguments);
        if (!args) return args.error();
        auto a = args->find("a");
        auto b = args->find("b");
        if (a == args->end() || b == args->end() || !a->is_number() || !b->is_number())
          return Error{ErrorCode::tool_error, "add: \"a\" and \"b\" must be numbers"};
        return nlohmann::json(a->get<double>() + b->get<double>()).dump();
      },
      ToolOptions{.idempotent = true});
  auto wait = Tool::function(
      "wait", "Waits the given number of milliseconds (at most 60000), then answers. A stand-in for I/O.",
      R"({"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":60000}},"required":["ms"],"additionalProperties":false})",
      [](const ToolContext&, std::string_view arguments) -> Expected<std::string> {
        auto args = parse_arguments("wait", arguments);
        if (!args) return args.error();
        auto ms = args->find("ms");
        if (ms == args->end() || !ms->is_number_integer() || ms->get<long long>() < 0 || ms->get<long long>() > 60000)
          return Error{ErrorCode::tool_error, "wait: \"ms\" must be an integer from 0 to 60000"};
        std::this_thread::sleep_for(std::chrono::milliseconds(ms->get<long long>()));
        return "waited " + std::to_string(ms->get<long long>()) + " ms";
      },
      ToolOptions{.blocking = true, .idempotent = true});
  tools.emplace("wait", std::move(wait).value());
  tools.emplace("word_count", std::move(word_count).value());
  tools.emplace("add", std::move(add).value());
  return tools;
}

}  // namespace loomflow::tools
