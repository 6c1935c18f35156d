#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "loomflow/tools/mcp/spec_servers.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/providers/spec_models.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/tools/builtin.hpp"

namespace loomflow::cli {

SpecEnvironment cli_environment(std::shared_ptr<providers::ProviderEnvironment> providers) {
  SpecEnvironment env;
  if (!providers) providers = std::make_shared<providers::ProviderEnvironment>();
  env.make_model = providers::spec_model_resolver(std::move(providers));
  env.functions = tools::builtin_functions();
  env.tools = tools::builtin_tools();
  env.mcp_tools = mcp::tools_from_spec;
  return env;
}

Expected<std::shared_ptr<const providers::PriceTable>> price_table(const std::string& file) {
  auto table = providers::default_prices();
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Error{ErrorCode::invalid_argument, file + ": cannot read the price table"};
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      return Error{ErrorCode::invalid_argument, file + ": not valid JSON: " + e.what()};
    }
    auto custom = providers::prices_from_json(json, "$");
    if (!custom) return Error{ErrorCode::invalid_argument, file + ": " + custom.error().message};
    for (auto& [model, price] : *custom) table[model] = price;
  }
  return std::make_shared<const providers::PriceTable>(std::move(table));
}

namespace {

nlohmann::ordered_json result_json(const LoadedSpec& spec, const RunResult& r) {
  nlohmann::ordered_json trace = nlohmann::ordered_json::array();
  for (const auto& t : r.trace) {
    nlohmann::ordered_json step = {{"step", t.step_name}, {"kind", std::string(to_string(t.kind))},
                                   {"name", t.name},      {"ok", t.ok},
                                   {"duration_us", t.duration_us}};
    if (!t.detail.empty()) step["detail"] = t.detail;
    trace.push_back(std::move(step));
  }
  return {{"workflow", spec.name},        {"output", r.output},
          {"visited", r.visited},         {"usage", usage_json(r.usage)},
          {"user_id", r.user_id.str()},   {"session_id", r.session_id.str()},
          {"trace", std::move(trace)}};
}

// A scripted model that was used but not used up means the script and the run disagree.
Expected<void> check_scripts(const LoadedSpec& spec) {
  for (const auto& [agent, model] : spec.models) {
    auto* scripted = dynamic_cast<const providers::ScriptedProvider*>(model.provider.get());
    if (scripted == nullptr || scripted->calls() == 0) continue;
    if (auto ok = scripted->verify_consumed(); !ok)
      return Error{ok.error().code, "agent '" + agent + "': " + ok.error().message};
  }
  return {};
}

}  // namespace

Expected<std::shared_ptr<JournalStore>> open_cli_journal(std::string uri) {
  if (uri.empty()) {
    const char* env = std::getenv("LOOMFLOW_JOURNAL");
    if (env != nullptr) uri = env;
  }
  if (uri.empty())
    return Error{ErrorCode::invalid_argument, "no journal: pass --journal URI or set LOOMFLOW_JOURNAL "
                                              "(rocksdb:PATH, sqlite:PATH, postgres://...)"};
  return open_journal(uri);
}

std::string spec_origin(const std::string& spec_path, const std::string& spec_text) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(spec_path, ec);
  return nlohmann::json{{"spec_path", ec ? spec_path : absolute.string()}, {"spec", spec_text}}.dump();
}

int execute_run(const char* command, const LoadedSpec& spec, const std::string& input, const RunArgs& args,
                std::shared_ptr<JournalStore> journal, std::string origin) {
  Runtime runtime(RuntimeConfig{args.threads, journal, spec.tool_policy});
  RunOptions options;
  options.user_id = UserId{args.user};
  options.session_id = SessionId{args.session};
  options.timeout = std::chrono::milliseconds(args.timeout_ms);
  options.origin = std::move(origin);
  options.history = args.history;
  Expected<RunResult> result = Error{ErrorCode::internal, {}};
  if (args.agent.empty()) {
    result = runtime.run(spec.workflow, input, options);
  } else if (auto agent = spec.agents.find(args.agent); agent != spec.agents.end()) {
    result = runtime.run(agent->second, input, options);
  } else {
    result = Error{ErrorCode::invalid_argument, "the spec has no agent '" + args.agent + "'"};
  }
  // A resumed run's journaled model calls never reach the model: its script is partly unused.
  Expected<void> scripts = result && result->replayed_steps == 0 ? check_scripts(spec) : Expected<void>{};
  if (!result || !scripts) {
    const Error& error = !result ? result.error() : scripts.error();
    if (args.json) {
      nlohmann::ordered_json out = {{"workflow", spec.name},
                                    {"error", {{"code", std::string(to_string(error.code))}, {"message", error.message}}},
                                    {"user_id", args.user}};
      if (!args.session.empty()) out["session_id"] = args.session;
      std::cout << out.dump() << "\n";
    }
    std::cerr << "loomflow " << command << ": " << error.describe() << "\n";
    return 1;
  }
  if (args.json) {
    auto out = result_json(spec, *result);
    if (journal) out["replayed_steps"] = result->replayed_steps;
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::cout << result->output << "\n";
  std::cout << "visited: ";
  for (std::size_t i = 0; i < result->visited.size(); ++i) std::cout << (i ? " → " : "") << result->visited[i];
  std::cout << "\n";
  if (journal)
    std::cout << "session: " << result->session_id.str() << " (journal " << journal->uri() << ", "
              << result->replayed_steps << " steps replayed)\n";
  return 0;
}

int run_command(const RunArgs& args) {
  auto prices = price_table(args.prices);
  if (!prices) {
    std::cerr << "loomflow run: " << prices.error().message << "\n";
    return 2;
  }
  auto providers = std::make_shared<providers::ProviderEnvironment>();
  providers->prices = *prices;
  std::ifstream in(args.spec, std::ios::binary);
  if (!in) {
    std::cerr << "loomflow run: " << args.spec << ": cannot read the spec: " << std::strerror(errno) << "\n";
    return 2;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto spec = load_spec_text(text, args.spec, cli_environment(providers));
  if (!spec) {
    std::cerr << "loomflow run: " << spec.error().message << "\n";
    return 2;
  }
  // --journal, else $LOOMFLOW_JOURNAL (open_cli_journal reads it), else the spec's "journal".
  std::shared_ptr<JournalStore> journal;
  const bool from_env = args.journal.empty() && std::getenv("LOOMFLOW_JOURNAL") != nullptr;
  const std::string uri = args.journal.empty() && !from_env ? spec->journal : args.journal;
  if (!uri.empty() || from_env) {
    auto opened = open_cli_journal(uri);
    if (!opened) {
      std::cerr << "loomflow run: " << opened.error().describe() << "\n";
      return 2;
    }
    journal = *opened;
  }
  return execute_run("run", *spec, args.input, args, journal, journal ? spec_origin(args.spec, text) : std::string());
}

}  // namespace loomflow::cli
