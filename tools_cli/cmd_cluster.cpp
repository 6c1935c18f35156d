// `loomflow node`, `loomflow worker` and `loomflow cluster status`: cluster members as processes.
//
// node and worker print JSON lines on stdout: first {"event":"listening",...} with the bound
// address, then {"event":"member",...} for every membership change; they run until SIGTERM or
// SIGINT, then leave the cluster (members see them down at once) and exit 0.
#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "loomflow/cluster/node.hpp"
#include "loomflow/serve/hosted.hpp"
#include "loomflow/tools/builtin.hpp"
#include "loomflow/tools/sandbox/bash.hpp"
#include "loomflow/tools/sandbox/filesystem.hpp"

namespace loomflow::cli {

namespace {

Expected<std::string> read_secret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::invalid_argument, "cannot read the secret file '" + path + "'"};
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' '))
    secret.pop_back();
  if (secret.size() < 16)
    return Error{ErrorCode::invalid_argument,
                 "the secret in '" + path + "' is shorter than 16 bytes: use e.g. `openssl rand -hex 32`"};
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0)
    std::cerr << "loomflow: warning: the secret file '" << path << "' is readable by others (chmod 600 it)\n";
  return secret;
}

Expected<cluster::ClusterAccess> access_of(const ClusterArgs& args) {
  cluster::ClusterAccess access;
  if (!args.secret_file.empty()) {
    auto secret = read_secret(args.secret_file);
    if (!secret) return secret.error();
    access.secret = std::move(*secret);
  }
  access.tls = cluster::TlsFiles{args.tls_cert, args.tls_key, args.tls_ca};
  access.insecure = args.insecure;
  return access;
}

nlohmann::json member_json(const cluster::MemberStatus& m) {
  nlohmann::json tools = nlohmann::json::array();
  for (const auto& t : m.info.tools) tools.push_back(t.spec.name);
  nlohmann::json out = {{"name", m.info.name},           {"address", m.info.address},
                        {"role", cluster::to_string(m.info.role)}, {"state", cluster::to_string(m.state)},
                        {"last_heard_ms", m.last_heard_ms}, {"self", m.self}};
  if (!m.info.tools.empty()) {
    out["tools"] = std::move(tools);
    out["capacity"] = m.info.capacity;
  }
  return out;
}

// The tools a worker may serve, by name: the built-in ones, and with a working root the sandboxed
// filesystem tools and bash.
Expected<std::vector<Tool>> worker_tools(const ClusterArgs& args) {
  auto catalog = tools::builtin_tools();
  if (!args.workdir.empty()) {
    auto fs = tools::filesystem_tools({.root = args.workdir});
    if (!fs) return fs.error();
    for (auto& t : *fs) catalog.emplace(t.name(), t);
    auto bash = tools::bash_tool({.root = args.workdir});
    if (!bash) return bash.error();
    catalog.emplace("bash", *bash);
  }
  std::vector<Tool> out;
  for (const auto& list : args.tools) {
    std::stringstream names(list);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name.empty()) continue;
      auto it = catalog.find(name);
      if (it == catalog.end()) {
        std::string known;
        for (const auto& [n, t] : catalog) known += (known.empty() ? "" : ", ") + n;
        return Error{ErrorCode::invalid_argument, "--tools: unknown tool '" + name + "' (this worker can serve: " + known +
                                                      (args.workdir.empty() ? "; --workdir adds bash and the fs_* tools)" : ")")};
      }
      out.push_back(it->second);
    }
  }
  if (out.empty()) return Error{ErrorCode::invalid_argument, "--tools: a worker must serve at least one tool"};
  return out;
}

// The Tool::remote of each name, as the members the seeds know describe them; waits (up to the join
// timeout) for members serving them to be up.
Expected<std::map<std::string, Tool>> cluster_tools(const ClusterArgs& args, const cluster::ClusterAccess& access) {
  std::map<std::string, Tool> out;
  if (args.remote_tools.empty()) return out;
  if (args.join.empty()) return Error{ErrorCode::invalid_argument, "--remote-tools needs --join: the tools' workers are found there"};
  std::vector<std::string> names;
  for (const auto& list : args.remote_tools) {
    std::stringstream parts(list);
    for (std::string name; std::getline(parts, name, ',');)
      if (!name.empty()) names.push_back(name);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(args.join_timeout_ms);
  std::string missing;
  while (true) {
    missing.clear();
    for (const auto& seed : args.join) {
      auto members = cluster::query_members(seed, access);
      if (!members) {
        if (members.error().code == ErrorCode::permission_denied) return members.error();
        continue;
      }
      for (const auto& m : *members)
        for (const auto& served : m.info.tools)
          if (m.state == cluster::MemberState::up && !out.count(served.spec.name) &&
              std::find(names.begin(), names.end(), served.spec.name) != names.end()) {
            auto tool = Tool::remote(served.spec, ToolOptions{.idempotent = served.idempotent});
            if (!tool) return tool.error();
            out.emplace(served.spec.name, *tool);
          }
      break;
    }
    for (const auto& name : names)
      if (!out.count(name)) missing += (missing.empty() ? "" : ", ") + name;
    if (missing.empty()) return out;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // waiting for workers to join
  }
  return Error{ErrorCode::unavailable, "--remote-tools: no member of the cluster serves " + missing + " (waited " +
                                           std::to_string(args.join_timeout_ms) + " ms)"};
}

// --spec: what the node hosts. Agents may call the built-in tools here and --remote-tools there.
Expected<void> host_specs(const ClusterArgs& args, const cluster::ClusterAccess& access, cluster::NodeConfig& config) {
  if (args.specs.empty()) return {};
  auto env = cli_environment();
  auto remote = cluster_tools(args, access);
  if (!remote) return remote.error();
  for (auto& [name, tool] : *remote) env.tools.insert_or_assign(name, tool);
  for (const auto& path : args.specs) {
    auto hosted = serve::load_hosted(path, env);
    if (!hosted) return hosted.error();
    for (const auto& [name, target] : hosted->targets) {
      if (config.agents.count(name) || config.workflows.count(name))
        return Error{ErrorCode::invalid_spec, "two specs host '" + name + "'"};
      if (target.kind == serve::HostedTarget::Kind::agent) config.agents.emplace(name, *target.agent);
      else config.workflows.emplace(name, *target.workflow);
    }
    if (hosted->tool_policy) config.runtime.tool_policy = hosted->tool_policy;
  }
  if (!args.journal.empty()) {
    auto journal = open_cli_journal(args.journal);
    if (!journal) return journal.error();
    config.runtime.journal = *journal;
  }
  return {};
}

int run_member(const char* command, const ClusterArgs& args, cluster::MemberRole role) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto fail = [command](const Error& e) {
    std::cerr << "loomflow " << command << ": " << e.message << "\n";
    return 2;
  };
  auto access = access_of(args);
  if (!access) return fail(access.error());
  cluster::NodeConfig config;
  config.listen = args.listen;
  config.seeds = args.join;
  config.name = args.name;
  config.role = role;
  config.access = std::move(*access);
  config.heartbeat_interval = std::chrono::milliseconds(args.heartbeat_ms);
  config.failure_timeout = std::chrono::milliseconds(args.failure_timeout_ms);
  config.join_timeout = std::chrono::milliseconds(args.join_timeout_ms);
  config.capacity = args.capacity;
  config.runtime.worker_threads = args.threads;
  config.idle_polls = args.idle_polls;
  if (role == cluster::MemberRole::worker) {
    auto tools = worker_tools(args);
    if (!tools) return fail(tools.error());
    config.tools = std::move(*tools);
  }
  if (auto hosted = host_specs(args, config.access, config); !hosted) return fail(hosted.error());
  // Member events seen while joining wait until the listening line is out: it comes first.
  struct Output {
    std::mutex mutex;
    bool listening = false;
    std::vector<std::string> held;
  };
  auto output = std::make_shared<Output>();
  config.on_change = [output](const cluster::MemberStatus& m) {
    auto line = member_json(m);
    line.erase("last_heard_ms");
    line.erase("self");
    line["event"] = "member";
    std::lock_guard<std::mutex> guard(output->mutex);
    if (!output->listening) {
      output->held.push_back(line.dump());
      return;
    }
    std::cout << line.dump() << std::endl;
  };
  auto node = cluster::Node::start(std::move(config));
  if (!node) {
    std::cerr << "loomflow " << command << ": " << node.error().message << "\n";
    return node.error().code == ErrorCode::invalid_argument ? 2 : 1;
  }
  {
    std::lock_guard<std::mutex> guard(output->mutex);
    nlohmann::json hosted = nlohmann::json::array();
    for (const auto& m : (*node)->members())
      if (m.self) hosted = m.info.hosted;
    std::cout << nlohmann::json{{"event", "listening"}, {"name", (*node)->name()}, {"address", (*node)->address()},
                                {"role", cluster::to_string(role)}, {"hosted", hosted}}
                     .dump()
              << "\n";
    for (const auto& line : output->held) std::cout << line << "\n";
    std::cout << std::flush;
    output->listening = true;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "loomflow " << command << ": " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": leaving the cluster" << std::endl;
  node->reset();
  return 0;
}

}  // namespace

int node_command(const ClusterArgs& args) { return run_member("node", args, cluster::MemberRole::node); }

int worker_command(const ClusterArgs& args) { return run_member("worker", args, cluster::MemberRole::worker); }

int cluster_status_command(const ClusterArgs& args) {
  auto access = access_of(args);
  if (!access) {
    std::cerr << "loomflow cluster status: " << access.error().message << "\n";
    return 2;
  }
  if (args.join.empty()) {
    std::cerr << "loomflow cluster status: --join HOST:PORT names the member to ask\n";
    return 2;
  }
  access->request_timeout = std::chrono::milliseconds(args.join_timeout_ms);
  Expected<std::vector<cluster::MemberStatus>> members = Error{ErrorCode::internal, {}};
  for (const auto& address : args.join) {
    members = cluster::query_members(address, *access);
    if (members || members.error().code == ErrorCode::invalid_argument) break;
  }
  if (!members) {
    std::cerr << "loomflow cluster status: " << members.error().message << "\n";
    return 1;
  }
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : *members) list.push_back(member_json(m));
    std::cout << nlohmann::json{{"members", std::move(list)}}.dump(2) << "\n";
    return 0;
  }
  std::printf("%-24s %-22s %-7s %-12s %10s  %s\n", "NAME", "ADDRESS", "ROLE", "STATE", "HEARD", "TOOLS");
  for (const auto& m : *members) {
    std::string tools;
    for (const auto& t : m.info.tools) tools += (tools.empty() ? "" : ",") + t.spec.name;
    std::string heard = m.self ? "(asked)" : std::to_string(m.last_heard_ms) + " ms";
    std::printf("%-24s %-22s %-7s %-12s %10s  %s\n", m.info.name.c_str(), m.info.address.c_str(),
                cluster::to_string(m.info.role), cluster::to_string(m.state), heard.c_str(), tools.c_str());
  }
  return 0;
}

int cluster_run_command(const ClusterArgs& args) {
  auto fail = [](int status, const std::string& message) {
    std::cerr << "loomflow cluster run: " << message << "\n";
    return status;
  };
  auto access = access_of(args);
  if (!access) return fail(2, access.error().message);
  if (args.join.empty()) return fail(2, "--join HOST:PORT names a member to join through");
  cluster::NodeConfig config;
  config.listen = "127.0.0.1:0";
  config.seeds = args.join;
  config.access = std::move(*access);
  config.join_timeout = std::chrono::milliseconds(args.join_timeout_ms);
  config.runtime.worker_threads = args.threads == 0 ? 1 : args.threads;
  auto node = cluster::Node::start(std::move(config));
  if (!node) return fail(node.error().code == ErrorCode::invalid_argument ? 2 : 1, node.error().message);
  RunOptions options;
  options.user_id = UserId{args.user};
  if (!args.session.empty()) options.session_id = SessionId{args.session};
  // Its members are known once it joined one; the target's host may still be joining: wait a little.
  (*node)->wait_until(
      [&](const std::vector<cluster::MemberStatus>& members) {
        for (const auto& m : members)
          if (m.state == cluster::MemberState::up &&
              std::find(m.info.hosted.begin(), m.info.hosted.end(), args.target) != m.info.hosted.end() &&
              (args.on.empty() || m.info.name == args.on))
            return true;
        return false;
      },
      std::chrono::milliseconds(args.join_timeout_ms));
  auto result = (*node)->start_on(args.target, args.input, std::move(options), args.on).take();
  if (!result) return fail(1, result.error().message);
  if (args.json) {
    std::cout << nlohmann::json{{"target", args.target},       {"output", result->output},
                                {"visited", result->visited},   {"usage", usage_json(result->usage)},
                                {"session_id", result->session_id.str()}, {"user_id", result->user_id.str()},
                                {"replayed_steps", result->replayed_steps}}
                     .dump()
              << "\n";
  } else {
    std::cout << result->output << "\n";
  }
  return 0;
}

}  // namespace loomflow::cli
