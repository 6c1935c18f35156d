#include <fstream>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "loomflow/providers/resolve.hpp"
#include "loomflow/runtime.hpp"

namespace loomflow::cli {

namespace {

Expected<std::string> read_schema(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::invalid_argument, path + ": cannot read the schema file"};
  std::string text(std::istreambuf_iterator<char>(in), {});
  try {
    (void)nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Error{ErrorCode::invalid_argument, path + ": not valid JSON: " + e.what()};
  }
  return text;
}

}  // namespace

int ask_command(const AskArgs& args) {
  providers::ProviderEnvironment env;
  auto prices = price_table(args.prices);
  if (!prices) {
    std::cerr << "loomflow ask: " << prices.error().message << "\n";
    return 2;
  }
  env.prices = *prices;
  providers::ModelSettings settings;
  settings.call.stream = args.stream;
  // Streamed text is printed as it arrives (from the HTTP thread; the lock keeps lines whole).
  auto print_mutex = std::make_shared<std::mutex>();
  if (args.stream && !args.json)
    settings.on_text = [print_mutex](std::string_view delta) {
      std::lock_guard<std::mutex> guard(*print_mutex);
      std::cout << delta << std::flush;
    };
  auto model = providers::resolve_model(args.model, settings, env);
  if (!model) {
    std::cerr << "loomflow ask: " << model.error().message << "\n";
    return 2;
  }
  AgentOptions options{.name = "ask", .instructions = args.system, .model = *model, .max_turns = 1};
  if (!args.schema.empty()) {
    auto schema = read_schema(args.schema);
    if (!schema) {
      std::cerr << "loomflow ask: " << schema.error().message << "\n";
      return 2;
    }
    options.output_schema = std::move(*schema);
  }
  auto agent = Agent::create(std::move(options));
  if (!agent) {
    std::cerr << "loomflow ask: " << agent.error().message << "\n";
    return 2;
  }
  Runtime runtime;
  auto result = runtime.run(*agent, args.prompt);
  if (!result) {
    if (args.json)
      std::cout << nlohmann::ordered_json{{"model", args.model},
                                          {"error", {{"code", std::string(to_string(result.error().code))},
                                                     {"message", result.error().message}}}}
                       .dump()
                << "\n";
    std::cerr << "loomflow ask: " << result.error().describe() << "\n";
    return 1;
  }
  if (args.json) {
    const auto& u = result->usage;
    std::cout << nlohmann::ordered_json{{"model", args.model},
                                        {"provider", std::string(model->provider->name())},
                                        {"output", result->output},
                                        {"usage", usage_json(u)}}
                     .dump()
              << "\n";
    return 0;
  }
  if (args.stream) {
    std::lock_guard<std::mutex> guard(*print_mutex);
    std::cout << "\n";
  } else {
    std::cout << result->output << "\n";
  }
  return 0;
}

}  // namespace loomflow::cli
