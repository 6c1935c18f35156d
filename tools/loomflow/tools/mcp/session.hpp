// loomflow/tools/mcp/session.hpp — internal: one JSON-RPC session with an MCP server over a
// Transport: request ids and the table of requests waiting for their answer, timeouts (restarted by
// progress), cancellation, answers to the server's own requests, and reconnecting (restart +
// initialize) when the connection was lost.
// Thread-safety: `request` and `notify` may be called from any number of threads at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loomflow/tools/mcp/client.hpp"
#include "loomflow/tools/mcp/transport.hpp"

namespace loomflow::mcp::detail {

class Session {
 public:
  Session(ServerOptions options, std::unique_ptr<Transport> transport);
  ~Session();

  // Opens the transport and initializes. Fails when the server cannot be reached or initialized.
  Expected<void> start();
  // One request; `what` names it in errors (e.g. "tools/call 'get-sum'"). Reconnects first when the
  // connection was lost (within `max_restarts`).
  Expected<nlohmann::json> request(const std::string& method, nlohmann::json params, const CallOptions& options,
                                   const std::string& what);
  void close();

  const ServerOptions& options() const { return options_; }
  ServerInfo server_info() const;
  int restarts() const;
  long pid() const { return transport_->pid(); }

  // The tool list cache, emptied by notifications/tools/list_changed.
  std::optional<std::vector<ToolInfo>> cached_tools() const;
  void cache_tools(std::vector<ToolInfo> tools);

 private:
  struct Pending {
    std::string what;
    std::optional<Expected<nlohmann::json>> outcome;
    std::function<void(const Progress&)> on_progress;
    std::chrono::steady_clock::time_point progress_at;  // the last progress (or the start)
  };

  Expected<void> connect_locked();  // connect_mutex_ held
  Expected<nlohmann::json> roundtrip(const std::string& method, nlohmann::json params, const CallOptions& options,
                                     const std::string& what);
  TransportEvents events_for(std::uint64_t epoch);
  void on_message(std::uint64_t epoch, nlohmann::json message);
  void on_request_failed(std::uint64_t epoch, const nlohmann::json& id, Error error);
  void on_closed(std::uint64_t epoch, Error reason);
  void answer_server_request(const nlohmann::json& message);
  void send_cancel(std::int64_t id, const std::string& reason);

  const ServerOptions options_;
  std::unique_ptr<Transport> transport_;
  std::mutex connect_mutex_;  // one (re)connect at a time

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t epoch_ = 0;  // which connection events belong to
  bool connected_ = false;
  bool closed_ = false;
  std::optional<Error> lost_;  // why the last connection ended
  int restarts_ = 0;
  int consecutive_restarts_ = 0;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
  ServerInfo info_;
  std::optional<std::vector<ToolInfo>> tools_;
};

}  // namespace loomflow::mcp::detail
