#include "loomflow/tools/mcp/session.hpp"

#include <algorithm>

namespace loomflow::mcp {

const std::vector<std::string> kProtocolVersions = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

namespace detail {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kMethodNotFound = -32601;
constexpr auto kSendFailureGrace = std::chrono::milliseconds(1000);

std::string join_versions() {
  std::string out;
  for (const auto& v : kProtocolVersions) out += (out.empty() ? "" : ", ") + v;
  return out;
}

// A JSON-RPC error object as an Error naming the server and the request.
Error rpc_error(const std::string& server, const std::string& what, const json& error) {
  const int code = error.is_object() && error.contains("code") && error["code"].is_number_integer() ? error["code"].get<int>() : 0;
  std::string message = error.is_object() && error.contains("message") && error["message"].is_string()
                            ? error["message"].get<std::string>()
                            : error.dump();
  if (error.is_object() && error.contains("data") && !error["data"].is_null()) {
    std::string data = error["data"].is_string() ? error["data"].get<std::string>() : error["data"].dump();
    if (data.size() > 300) data = data.substr(0, 300) + "...";
    message += " (" + data + ")";
  }
  const ErrorCode kind = code == -32601 || code == -32602 ? ErrorCode::invalid_argument
                         : code == -32001 ? ErrorCode::deadline_exceeded  // the SDKs' request timeout
                                          : ErrorCode::tool_error;
  return Error{kind, "MCP server '" + server + "': " + what + " failed: " + message + " (JSON-RPC error " +
                         std::to_string(code) + ")"};
}

}  // namespace

Session::Session(ServerOptions options, std::unique_ptr<Transport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

Session::~Session() { close(); }

Expected<void> Session::start() {
  std::lock_guard<std::mutex> guard(connect_mutex_);
  return connect_locked();
}

void Session::close() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (closed_) return;
    closed_ = true;
    connected_ = false;
    ++epoch_;
    for (auto& [id, pending] : pending_)
      if (!pending->outcome)
        pending->outcome = Error{ErrorCode::cancelled, "MCP server '" + options_.name + "': the client was closed during " + pending->what};
  }
  changed_.notify_all();
  std::lock_guard<std::mutex> guard(connect_mutex_);
  transport_->close();
}

ServerInfo Session::server_info() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return info_;
}

int Session::restarts() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return restarts_;
}

std::optional<std::vector<ToolInfo>> Session::cached_tools() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return tools_;
}

void Session::cache_tools(std::vector<ToolInfo> tools) {
  std::lock_guard<std::mutex> guard(mutex_);
  tools_ = std::move(tools);
}

TransportEvents Session::events_for(std::uint64_t epoch) {
  TransportEvents events;
  events.message = [this, epoch](json message) { on_message(epoch, std::move(message)); };
  events.request_failed = [this, epoch](const json& id, Error error) { on_request_failed(epoch, id, std::move(error)); };
  events.closed = [this, epoch](Error reason) { on_closed(epoch, std::move(reason)); };
  return events;
}

Expected<void> Session::connect_locked() {
  std::uint64_t epoch;
  bool first;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (closed_) return Error{ErrorCode::cancelled, "MCP server '" + options_.name + "': the client was closed"};
    if (connected_) return {};
    epoch = ++epoch_;
    first = !lost_.has_value() && restarts_ == 0 && info_.protocol_version.empty();
  }
  transport_->close();
  {
    // Connected for the handshake's own requests (undone below on failure); set before opening so
    // that a server dying at once (a `closed` event during open) is not overwritten.
    std::lock_guard<std::mutex> guard(mutex_);
    connected_ = true;
  }
  if (auto opened = transport_->open(events_for(epoch)); !opened) {
    std::lock_guard<std::mutex> guard(mutex_);
    connected_ = false;
    return opened.error();
  }
  json params = {{"protocolVersion", kProtocolVersions.front()},
                 {"capabilities", json::object()},
                 {"clientInfo", {{"name", options_.client_name}, {"version", options_.client_version}}}};
  CallOptions init_options;
  init_options.timeout = options_.startup_timeout;
  auto result = roundtrip("initialize", std::move(params), init_options, "initialize");
  auto fail = [&](Error error) -> Expected<void> {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      connected_ = false;
      ++epoch_;
    }
    transport_->close();
    return error;
  };
  if (!result) return fail(result.error());
  const json& r = *result;
  const std::string version = r.is_object() ? r.value("protocolVersion", std::string()) : std::string();
  if (std::find(kProtocolVersions.begin(), kProtocolVersions.end(), version) == kProtocolVersions.end())
    return fail(Error{ErrorCode::unavailable, "MCP server '" + options_.name + "' speaks protocol version '" + version +
                                                  "', which loomflow does not (it speaks " + join_versions() + ")"});
  ServerInfo info;
  info.protocol_version = version;
  if (r.contains("serverInfo") && r["serverInfo"].is_object()) {
    info.name = r["serverInfo"].value("name", std::string());
    info.version = r["serverInfo"].value("version", std::string());
  }
  info.capabilities = r.value("capabilities", json::object());
  if (r.contains("instructions") && r["instructions"].is_string()) info.instructions = r["instructions"].get<std::string>();
  {
    std::lock_guard<std::mutex> guard(mutex_);
    info_ = std::move(info);
    if (!first) ++restarts_;
    tools_.reset();  // a restarted server may offer other tools
  }
  transport_->initialized(version);  // from now on every message carries the version (HTTP)
  if (auto sent = transport_->send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}); !sent)
    return fail(sent.error());
  return {};
}

Expected<json> Session::request(const std::string& method, json params, const CallOptions& options, const std::string& what) {
  {
    std::lock_guard<std::mutex> guard(connect_mutex_);
    bool need;
    {
      std::lock_guard<std::mutex> state(mutex_);
      need = !connected_;
      if (need && lost_ && consecutive_restarts_ >= options_.max_restarts)
        return Error{ErrorCode::unavailable, "MCP server '" + options_.name + "' is down and was restarted " +
                                                 std::to_string(consecutive_restarts_) + " times in a row; last: " + lost_->message};
      if (need && lost_) ++consecutive_restarts_;
    }
    if (need)
      if (auto connected = connect_locked(); !connected) return connected.error();
  }
  auto result = roundtrip(method, std::move(params), options, what);
  if (result) {
    std::lock_guard<std::mutex> state(mutex_);
    consecutive_restarts_ = 0;
  }
  return result;
}

Expected<json> Session::roundtrip(const std::string& method, json params, const CallOptions& options, const std::string& what) {
  const auto timeout = options.timeout.value_or(options_.request_timeout);
  auto pending = std::make_shared<Pending>();
  pending->what = what;
  pending->on_progress = options.on_progress;
  std::int64_t id;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!connected_) {
      if (lost_) return Error{lost_->code, lost_->message + " (during " + what + ")"};
      return Error{ErrorCode::unavailable, "MCP server '" + options_.name + "' is not connected"};
    }
    id = next_id_++;
    pending->progress_at = Clock::now();
    pending_[id] = pending;
  }
  if (!params.is_object()) params = json::object();
  if (options.on_progress || (options.meta.is_object() && !options.meta.empty())) {
    json meta = options.meta.is_object() ? options.meta : json::object();
    if (options.on_progress) meta["progressToken"] = id;
    params["_meta"] = std::move(meta);
  }
  const auto started = Clock::now();
  auto hard_deadline = started + std::max(timeout, options_.max_request_time);
  std::optional<Error> send_failure;
  if (auto sent = transport_->send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}}); !sent) {
    // A write that fails means the server is going away; its exit (status, stderr) explains more
    // than the write error, so wait briefly for the transport to report it.
    send_failure = Error{sent.error().code, "MCP server '" + options_.name + "': sending " + what + ": " + sent.error().message};
    hard_deadline = std::min(hard_deadline, started + kSendFailureGrace);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (pending->outcome) break;
    if (send_failure && Clock::now() >= hard_deadline) {
      pending_.erase(id);
      return *send_failure;
    }
    const auto deadline = std::min(pending->progress_at + timeout, hard_deadline);
    const auto now = Clock::now();
    if (now >= deadline) {
      pending_.erase(id);
      lock.unlock();
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count();
      send_cancel(id, "timed out after " + std::to_string(waited) + " ms");
      return Error{ErrorCode::deadline_exceeded, "MCP server '" + options_.name + "': " + what + " timed out after " +
                                                     std::to_string(waited) + " ms (the server was asked to cancel it)"};
    }
    if (options.cancel && options.cancel->load()) {
      pending_.erase(id);
      lock.unlock();
      send_cancel(id, "cancelled by the client");
      return Error{ErrorCode::cancelled, "MCP server '" + options_.name + "': " + what + " was cancelled"};
    }
    // A cancellable call looks at its flag every 20 ms; others sleep until an answer or the deadline.
    auto until = options.cancel ? std::min(deadline, Clock::now() + std::chrono::milliseconds(20)) : deadline;
    changed_.wait_until(lock, until);
  }
  pending_.erase(id);
  return std::move(*pending->outcome);
}

void Session::send_cancel(std::int64_t id, const std::string& reason) {
  (void)transport_->send({{"jsonrpc", "2.0"},
                          {"method", "notifications/cancelled"},
                          {"params", {{"requestId", id}, {"reason", reason}}}});
}

void Session::on_message(std::uint64_t epoch, json message) {
  if (!message.is_object()) return;
  const bool has_id = message.contains("id") && !message["id"].is_null();
  if (message.contains("method") && message["method"].is_string()) {
    if (has_id) {
      answer_server_request(message);
      return;
    }
    const std::string method = message["method"];
    const json params = message.value("params", json::object());
    if (method == "notifications/progress" && params.is_object() && params.contains("progressToken")) {
      const json& token = params["progressToken"];
      if (!token.is_number_integer()) return;
      std::function<void(const Progress&)> callback;
      Progress progress;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        if (epoch != epoch_) return;
        auto it = pending_.find(token.get<std::int64_t>());
        if (it == pending_.end()) return;
        it->second->progress_at = Clock::now();  // progress restarts the request's timeout
        callback = it->second->on_progress;
      }
      progress.progress = params.value("progress", 0.0);
      if (params.contains("total") && params["total"].is_number()) progress.total = params["total"].get<double>();
      progress.message = params.value("message", std::string());
      changed_.notify_all();
      if (callback) callback(progress);
    } else if (method == "notifications/tools/list_changed") {
      {
        std::lock_guard<std::mutex> guard(mutex_);
        tools_.reset();
      }
      if (options_.on_tools_changed) options_.on_tools_changed();
    }
    return;  // logging and other notifications: nothing to do
  }
  if (!has_id || !message["id"].is_number_integer()) return;  // not an answer to anything of ours
  const auto id = message["id"].get<std::int64_t>();
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (epoch != epoch_) return;
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second->outcome) return;  // timed out or cancelled meanwhile
    auto& pending = *it->second;
    if (message.contains("error")) pending.outcome = rpc_error(options_.name, pending.what, message["error"]);
    else if (message.contains("result")) pending.outcome = Expected<json>(std::move(message["result"]));
    else pending.outcome = Error{ErrorCode::tool_error, "MCP server '" + options_.name + "': the answer to " + pending.what +
                                                           " has neither result nor error"};
  }
  changed_.notify_all();
}

void Session::answer_server_request(const json& message) {
  const std::string method = message["method"];
  json reply = {{"jsonrpc", "2.0"}, {"id", message["id"]}};
  if (method == "ping") {
    reply["result"] = json::object();
  } else {
    // We declare no client capabilities (sampling, elicitation, roots): say so instead of leaving
    // the server waiting.
    reply["error"] = {{"code", kMethodNotFound},
                      {"message", "Method not found: the loomflow MCP client does not support '" + method + "'"}};
  }
  (void)transport_->send(reply);
}

void Session::on_request_failed(std::uint64_t epoch, const json& id, Error error) {
  if (!id.is_number_integer()) return;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (epoch != epoch_) return;
    auto it = pending_.find(id.get<std::int64_t>());
    if (it == pending_.end() || it->second->outcome) return;
    it->second->outcome = std::move(error);
  }
  changed_.notify_all();
}

void Session::on_closed(std::uint64_t epoch, Error reason) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (epoch != epoch_) return;
    connected_ = false;
    lost_ = reason;
    for (auto& [id, pending] : pending_)
      if (!pending->outcome) pending->outcome = Error{reason.code, reason.message + " (during " + pending->what + ")"};
  }
  changed_.notify_all();
}

}  // namespace detail
}  // namespace loomflow::mcp
