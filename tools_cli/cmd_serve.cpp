// `loomflow serve`: hosts the agents and workflows of specs over HTTP until SIGTERM or SIGINT, then
// shuts down gracefully — no new runs, runs in flight get --grace-ms to finish (their streams end
// normally), what is left is cancelled (with a journal, every committed step stays; `loomflow runs
// resume` picks such a run up).
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/serve/app.hpp"
#include "loomflow/serve/http/server.hpp"

namespace loomflow::cli {

namespace {

Expected<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Error{ErrorCode::invalid_argument, "--listen " + listen + ": expected HOST:PORT"};
  char* end = nullptr;
  const std::string port_text = listen.substr(colon + 1);
  const auto port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port > 65535)
    return Error{ErrorCode::invalid_argument, "--listen " + listen + ": the port must be 0-65535"};
  return std::make_pair(listen.substr(0, colon), static_cast<std::uint16_t>(port));
}

// Fills `keys` from --keys and LOOMFLOW_API_KEYS.
Expected<void> load_keys(const ServeArgs& args, serve::ApiKeys& keys) {
  if (!args.keys.empty()) {
    auto from_file = serve::ApiKeys::from_file(args.keys);
    if (!from_file) return from_file.error();
    if (auto ok = keys.merge(*from_file); !ok) return ok.error();
  }
  if (const char* env = std::getenv("LOOMFLOW_API_KEYS"); env != nullptr && *env != '\0') {
    auto from_env = serve::ApiKeys::from_list(env, "LOOMFLOW_API_KEYS");
    if (!from_env) return from_env.error();
    if (auto ok = keys.merge(*from_env); !ok) return ok.error();
  }
  if (keys.empty() && !args.no_auth)
    return Error{ErrorCode::invalid_argument,
                 "no API keys: pass --keys FILE or set LOOMFLOW_API_KEYS=KEY=USER,... (or --no-auth for local use)"};
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int serve_command(const ServeArgs& args) {
  // Signals are taken by sigwait below, never by a handler: block them before any thread starts so
  // every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto fail = [](const Error& error) {
    std::cerr << "loomflow serve: " << error.message << "\n";
    return 2;
  };
  auto listen = parse_listen(args.listen);
  if (!listen) return fail(listen.error());
  serve::ApiKeys keys;
  if (auto ok = load_keys(args, keys); !ok) return fail(ok.error());
  auto prices = price_table(args.prices);
  if (!prices) return fail(prices.error());
  auto providers = std::make_shared<providers::ProviderEnvironment>();
  providers->prices = *prices;
  auto hosted = serve::load_hosted(args.spec, cli_environment(providers));
  if (!hosted) return fail(hosted.error());
  std::shared_ptr<JournalStore> journal;
  if (!args.journal.empty() || std::getenv("LOOMFLOW_JOURNAL") != nullptr) {
    auto opened = open_cli_journal(args.journal);
    if (!opened) return fail(opened.error());
    journal = *opened;
  }

  std::map<std::string, std::string> origins;  // spec path -> what `runs resume` needs
  if (journal)
    for (const auto& [name, target] : hosted->targets)
      if (!origins.count(target.spec_path)) origins[target.spec_path] = spec_origin(target.spec_path, read_file(target.spec_path));

  Runtime runtime(RuntimeConfig{args.threads, journal, hosted->tool_policy});
  serve::AppOptions options;
  options.require_keys = !args.no_auth;
  if (journal) options.origin = [&origins](const serve::HostedTarget& target) { return origins[target.spec_path]; };
  serve::App app(runtime, *hosted, std::move(keys), std::move(options));

  serve::http::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.max_body_bytes = args.max_body;
  auto server = serve::http::Server::start(server_options, [&app](serve::http::ExchangePtr exchange) { app.handle(exchange); });
  if (!server) return fail(server.error());

  std::cerr << "loomflow serve: listening on http://" << listen->first << ":" << (*server)->port() << " ("
            << hosted->targets.size() << " targets:";
  for (const auto& [name, target] : hosted->targets) std::cerr << " " << name;
  std::cerr << (args.no_auth ? "; no auth" : "") << (journal ? "; journal " + journal->uri() : std::string()) << ")"
            << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "loomflow serve: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT") << ": shutting down, "
            << app.runs().running() << " runs in flight" << std::endl;
  // Keep accepting during the grace period: probes on new connections see /readyz 503 (and new
  // runs 503) instead of a refused connection, so a load balancer drains this node.
  app.begin_shutdown();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(args.grace_ms);
  const bool finished_in_time = app.runs().wait_idle(deadline);
  if (!finished_in_time) {
    std::cerr << "loomflow serve: " << app.runs().running() << " runs still going after " << args.grace_ms
              << " ms: cancelling them" << (journal ? " (their committed steps stay in the journal)" : "") << std::endl;
    app.runs().cancel_all();
    app.runs().wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  // The streams of finished runs end normally; give their last bytes a moment to leave.
  (*server)->shutdown(std::chrono::seconds(2));
  std::cerr << "loomflow serve: stopped" << std::endl;
  return finished_in_time ? 0 : 1;
}

}  // namespace loomflow::cli
