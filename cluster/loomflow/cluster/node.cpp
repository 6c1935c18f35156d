#include "loomflow/cluster/node.hpp"

#include <charconv>
#include <filesystem>
#include <future>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "loomflow/actors/event_channel.hpp"
#include "loomflow/actors/extension.hpp"
#include "loomflow/actors/spawn.hpp"
#include "loomflow/actors/type_registry.hpp"
#include "loomflow/cluster/call_channel.hpp"
#include "loomflow/cluster/handshake.hpp"
#include "loomflow/cluster/member.hpp"
#include "loomflow/cluster/node_internals.hpp"

namespace loomflow::cluster {

Expected<std::pair<std::string, std::uint16_t>> parse_address(const std::string& address, const std::string& what) {
  const auto colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, what + " '" + address + "': " + why + " (expected HOST:PORT)"};
  };
  if (colon == std::string::npos || colon == 0) return bad("no host");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    return bad("the port is not a number from 0 to 65535");
  return std::make_pair(std::move(host), static_cast<std::uint16_t>(port));
}

namespace {

Expected<void> check_access(const ClusterAccess& access) {
  const auto& tls = access.tls;
  if (tls.enabled()) {
    const std::pair<const char*, const std::string*> files[] = {
        {"TLS certificate", &tls.certificate}, {"TLS key", &tls.key}, {"TLS CA file", &tls.ca}};
    for (const auto& [what, path] : files) {
      if (path->empty())
        return Error{ErrorCode::invalid_argument, std::string("TLS needs a certificate, a key and a CA file: the ") +
                                                      what + " is missing"};
      std::error_code ec;
      if (!std::filesystem::is_regular_file(*path, ec))
        return Error{ErrorCode::invalid_argument, std::string(what) + " '" + *path + "' is not a readable file"};
    }
  }
  if (access.secret.empty() && !tls.enabled() && !access.insecure)
    return Error{ErrorCode::invalid_argument,
                 "a cluster needs a secret or TLS (or, on a trusted test network only, `insecure`)"};
  return {};
}

// Loads the middleman (and TLS) into an actor system config: shared by nodes and query_members.
void configure_network(caf::actor_system_config& cfg, const ClusterAccess& access) {
  cfg.load<caf::io::middleman>();
  if (access.tls.enabled()) {
    cfg.load<caf::openssl::manager>();
    cfg.set("openssl.certificate", access.tls.certificate);
    cfg.set("openssl.key", access.tls.key);
    cfg.set("openssl.cafile", access.tls.ca);
  }
  // Remote messages are decoded on the multiplexer thread instead of being handed to a pool of
  // middleman workers first: one thread hop less per message each way.
  cfg.set("middleman.workers", std::size_t{0});
  register_cluster_types(cfg);
}

caf::io::middleman_actor connector(caf::actor_system& system, const ClusterAccess& access) {
  return access.tls.enabled() ? system.openssl_manager().actor_handle() : system.middleman().actor_handle();
}

std::uint64_t unix_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

class ClusterExtension final : public detail::RuntimeExtension {
 public:
  ClusterExtension(const NodeConfig& config, MemberInfo self, std::shared_ptr<MembershipView> view)
      : config_(config), self_(std::move(self)), view_(std::move(view)) {}

  void configure(caf::actor_system_config& cfg) override {
    configure_network(cfg, config_.access);
    // A hung peer is found by our own heartbeats after failure_timeout; CAF's close its connection
    // only much later, so a peer that merely stalled can come back without joining again.
    cfg.set("middleman.heartbeat-interval", caf::timespan(config_.heartbeat_interval));
    cfg.set("middleman.connection-timeout", caf::timespan(config_.failure_timeout * 30));
    // A remote round trip hands work between threads four times; a scheduler thread that parked
    // meanwhile costs a condition-variable wake-up (10–30 µs here) each time. Polling a while longer
    // before parking keeps them hot between a call and its answer (bench C1: p50 117 → 55 µs).
    if (config_.idle_polls > 0) cfg.set("work-stealing.aggressive-poll-attempts", config_.idle_polls);
  }

  void started(caf::actor_system& system, const detail::ToolCompiler& compile,
               const detail::RunLauncher& launch) override {
    system_ = &system;
    launch_ = launch;
    router_ = spawn_router(system, RouterSettings{config_.unserved_timeout, config_.max_dispatch_attempts,
                                                  config_.access.secret});
    MemberSettings settings;
    settings.self = self_;
    settings.access = config_.access;
    settings.seeds = config_.seeds;
    settings.heartbeat_interval = config_.heartbeat_interval;
    settings.failure_timeout = config_.failure_timeout;
    // Served tools are the Runtime's own tool actors: functions, and workflows (agents) as tools.
    for (const auto& tool : config_.tools) settings.served.emplace(tool.name(), compile(tool));
    settings.on_change = config_.on_change;
    settings.view = view_;
    settings.connector = connector(system, config_.access);
    settings.router = router_;
    settings.start_hosted = start_hosted_;
    member_ = spawn_member(system, std::move(settings));

  }

  actors::tool_actor remote_tool(const detail::ToolImpl&) override {
    return caf::actor_cast<actors::tool_actor>(router_);
  }

  actors::run_actor spawn_remote_node(const detail::NodeImpl& node) override {
    return caf::actor_cast<actors::run_actor>(spawn_remote_run(
        *system_, RemoteRunSettings{node.target, node.member, member_, config_.max_dispatch_attempts}, {}));
  }

  void stopping() override {
    caf::anon_send_exit(member_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(router_, caf::exit_reason::user_shutdown);
    if (call_listener_) caf::anon_send_exit(call_listener_, caf::exit_reason::user_shutdown);
  }

  caf::actor_system& system() { return *system_; }

  // Tool calls to a member serving tools travel on a call channel of their own (CAF's remote
  // request/response costs several times more per round trip) — except under TLS, as the channel
  // is not encrypted. Returns its "host:port", or empty.
  Expected<std::string> open_call_channel(const std::string& host) {
    if (config_.tools.empty() || config_.access.tls.enabled()) return std::string();
    auto server = spawn_call_server(*system_, host, 0, config_.access.secret, caf::actor_cast<actors::tool_actor>(member_));
    if (!server) return server.error();
    call_listener_ = server->listener;
    return host + ":" + std::to_string(server->port);
  }
  const detail::RunLauncher& launcher() const { return launch_; }
  // Filled in once the Runtime exists (it starts hosted runs on it).
  const std::shared_ptr<StartHosted>& start_hosted() const { return start_hosted_; }
  actors::tool_actor router() const { return caf::actor_cast<actors::tool_actor>(router_); }
  const member_actor& member() const { return member_; }

 private:
  const NodeConfig& config_;  // the Node's, which outlives its Runtime
  MemberInfo self_;
  std::shared_ptr<MembershipView> view_;
  caf::actor_system* system_ = nullptr;
  router_actor router_;
  member_actor member_;
  detail::RunLauncher launch_;
  caf::actor call_listener_;  // this member's call channel, when it serves tools without TLS
  std::shared_ptr<StartHosted> start_hosted_ = std::make_shared<StartHosted>();
};

}  // namespace

struct Node::Impl {
  NodeConfig config;
  std::shared_ptr<MembershipView> view = std::make_shared<MembershipView>();
  std::shared_ptr<ClusterExtension> extension;
  std::unique_ptr<Runtime> runtime;
  std::string name;
  std::string address;
};

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { impl_->runtime.reset(); }

Runtime& Node::runtime() noexcept { return *impl_->runtime; }
const std::string& Node::name() const noexcept { return impl_->name; }
const std::string& Node::address() const noexcept { return impl_->address; }

std::vector<MemberStatus> Node::members() const {
  std::lock_guard<std::mutex> guard(impl_->view->mutex);
  return impl_->view->members;
}

bool Node::wait_until(const std::function<bool(const std::vector<MemberStatus>&)>& holds,
                      std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->view->mutex);
  return impl_->view->changed.wait_for(lock, timeout, [&] { return holds(impl_->view->members); });
}

Expected<Tool> Node::tool(const std::string& tool) const {
  for (const auto& m : members()) {
    if (m.state != MemberState::up) continue;
    for (const auto& served : m.info.tools)
      if (served.spec.name == tool) return Tool::remote(served.spec, ToolOptions{.idempotent = served.idempotent});
  }
  return Error{ErrorCode::invalid_argument, "no member of the cluster serves tool '" + tool + "' now"};
}

namespace {

RunHandle launch_remote(ClusterExtension& extension, std::uint32_t attempts, const std::string& target,
                        std::string input, RunOptions options, const std::string& member,
                        std::shared_ptr<actors::EventChannel> events) {
  RemoteRunSettings settings{target, member, extension.member(), attempts};
  auto& system = extension.system();
  return extension.launcher()(
      [&system, settings](actors::RunCompletion done) {
        return caf::actor_cast<actors::run_actor>(spawn_remote_run(system, settings, std::move(done)));
      },
      target, std::move(input), std::move(options), std::move(events));
}

}  // namespace

RunHandle Node::start_on(const std::string& target, std::string input, RunOptions options, const std::string& member) {
  return launch_remote(*impl_->extension, impl_->config.max_dispatch_attempts, target, std::move(input),
                       std::move(options), member, nullptr);
}

EventStream Node::stream_on(const std::string& target, std::string input, RunOptions options,
                            StreamOptions stream_options, const std::string& member) {
  auto events = std::make_shared<actors::EventChannel>(stream_options.buffer_events);
  auto handle = launch_remote(*impl_->extension, impl_->config.max_dispatch_attempts, target, std::move(input),
                              std::move(options), member, events);
  return EventStream(events, std::make_shared<const RunHandle>(std::move(handle)), stream_options.on_abandon);
}

Expected<std::unique_ptr<Node>> Node::start(NodeConfig config) {
  if (auto ok = check_access(config.access); !ok) return ok.error();
  auto listen = parse_address(config.listen, "listen address");
  if (!listen) return listen.error();
  if (config.role == MemberRole::client)
    return Error{ErrorCode::invalid_argument, "a node's role is node or worker"};
  if (!config.name.empty() && !is_valid_name(config.name))
    return Error{ErrorCode::invalid_argument, "node name '" + config.name + "' is invalid (use [A-Za-z0-9_-], 1 to 64 characters)"};
  for (const auto& seed : config.seeds)
    if (auto ok = parse_address(seed, "seed address"); !ok) return ok.error();
  MemberInfo self;
  self.name = config.name;
  self.role = config.role;
  self.incarnation = unix_us();
  self.capacity = config.capacity;
  for (const auto& [name, agent] : config.agents) self.hosted.push_back(name);
  for (const auto& [name, workflow] : config.workflows) {
    if (config.agents.count(name) > 0)
      return Error{ErrorCode::invalid_argument, "'" + name + "' names both a hosted agent and a hosted workflow"};
    self.hosted.push_back(name);
  }
  for (const auto& tool : config.tools) {
    if (tool.impl().kind == detail::ToolImpl::Kind::remote)
      return Error{ErrorCode::invalid_argument, "tool '" + tool.name() + "' is itself remote: a member serves its own tools"};
    self.tools.push_back(ServedTool{tool.spec(), tool.impl().idempotent});
  }

  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->extension = std::make_shared<ClusterExtension>(impl->config, self, impl->view);
  RuntimeConfig runtime_config = impl->config.runtime;
  runtime_config.extension = impl->extension;
  impl->runtime = std::make_unique<Runtime>(runtime_config);
  auto& system = impl->extension->system();
  *impl->extension->start_hosted() = [impl = impl.get()](const std::string& target, std::string input,
                                                         RunOptions options, bool streamed) -> Expected<HostedStart> {
    auto run = [&](const auto& definition) -> HostedStart {
      if (!streamed) return HostedStart{impl->runtime->start(definition, std::move(input), std::move(options)), nullptr};
      // The member relays every event as it comes: it is the consumer, never a slow one.
      auto stream = std::make_shared<EventStream>(impl->runtime->stream(definition, std::move(input), std::move(options)));
      return HostedStart{stream->run(), stream};
    };
    if (auto agent = impl->config.agents.find(target); agent != impl->config.agents.end()) return run(agent->second);
    if (auto workflow = impl->config.workflows.find(target); workflow != impl->config.workflows.end())
      return run(workflow->second);
    return Error{ErrorCode::invalid_argument, "member '" + impl->name + "' hosts no agent or workflow '" + target + "'"};
  };
  auto member = caf::actor_cast<caf::actor>(impl->extension->member());
  auto port = impl->config.access.tls.enabled()
                  ? caf::openssl::publish(member, listen->second, listen->first.c_str(), true)
                  : system.middleman().publish(member, listen->second, listen->first.c_str(), true);
  if (!port)
    return Error{ErrorCode::unavailable, "cannot listen on " + impl->config.listen + ": " + system.render(port.error())};
  impl->address = listen->first + ":" + std::to_string(*port);
  impl->name = impl->config.name.empty() ? impl->address : impl->config.name;
  auto call_address = impl->extension->open_call_channel(listen->first);
  if (!call_address)
    return Error{ErrorCode::unavailable, "cannot open the call channel on " + listen->first + ": " +
                                             call_address.error().message};
  caf::anon_send(impl->extension->member(), listening_atom::value, impl->address, *call_address);

  // Wait for the first join: through any seed, or until every seed refused, or the timeout.
  const auto& seeds = impl->config.seeds;
  std::unique_lock<std::mutex> lock(impl->view->mutex);
  auto settled = [&] {
    if (impl->view->joined || seeds.empty()) return true;
    if (impl->view->seed_outcomes.size() < seeds.size()) return false;
    for (const auto& [seed, outcome] : impl->view->seed_outcomes)
      if (outcome.code != ErrorCode::permission_denied) return false;
    return true;
  };
  impl->view->changed.wait_for(lock, impl->config.join_timeout, settled);
  if (!impl->view->joined && !seeds.empty()) {
    std::string why;
    for (const auto& seed : seeds) {
      auto it = impl->view->seed_outcomes.find(seed);
      why += (why.empty() ? "" : "; ") + (it == impl->view->seed_outcomes.end() ? seed + ": no answer" : it->second.message);
    }
    lock.unlock();
    return Error{ErrorCode::permission_denied, "could not join the cluster through any seed: " + why};
  }
  lock.unlock();
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

namespace internal {

struct Access {
  static ClusterExtension& extension(Node& node) { return *node.impl_->extension; }
};

caf::actor_system& system_of(Node& node) { return Access::extension(node).system(); }
actors::tool_actor router_of(Node& node) { return Access::extension(node).router(); }

}  // namespace internal

Expected<std::vector<MemberStatus>> query_members(const std::string& address, const ClusterAccess& access) {
  if (auto ok = check_access(access); !ok) return ok.error();
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("scheduler.max-threads", std::size_t{1});
  actors::register_message_types(cfg);
  configure_network(cfg, access);
  caf::actor_system system(cfg);
  auto answer = std::make_shared<std::promise<Expected<std::vector<MemberStatus>>>>();
  auto future = answer->get_future();
  MemberInfo me;
  me.name = "client-" + make_nonce().substr(0, 8);
  me.role = MemberRole::client;
  auto mm = connector(system, access);
  system.spawn([answer, mm, address, access, me](caf::event_based_actor* self) {
    handshake(self, mm, address, access, me, caf::actor{}, [](const caf::node_id&) {}, [self, answer](Expected<Joined> joined) {
      if (joined) {
        answer->set_value(std::move(joined->welcome.members));
      } else {
        answer->set_value(joined.error());
      }
      self->quit();
    });
  });
  return future.get();
}

}  // namespace loomflow::cluster
