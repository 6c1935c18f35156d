// loomflow/tools/mcp/client.hpp — a Model Context Protocol client: one connection to one MCP server,
// over stdio (the server is our child process) or Streamable HTTP.
//
//   auto client = mcp::Client::connect({.name = "everything",
//                                       .transport = mcp::StdioServer{{"npx", "server-everything"}}});
//   auto tools = (*client)->list_tools();                       // every page
//   auto sum = (*client)->call_tool("get-sum", {{"a", 2}, {"b", 3}});
//
// `connect` starts the server (stdio) and runs `initialize`, offering the newest protocol version
// we speak and accepting any of `kProtocolVersions` that the server answers with; then it sends
// `notifications/initialized`. Server-to-client requests are answered: `ping` with an empty result,
// everything else (sampling, elicitation, roots — capabilities we do not declare) with the JSON-RPC
// error -32601 naming the method. `notifications/tools/list_changed` empties the cached tool list
// and calls `ServerOptions::on_tools_changed`.
//
// A stdio server that dies is restarted on the next request (at most `max_restarts` times in a
// row without a successful request in between); the requests in flight when it died fail with an
// error naming the server, its exit status and the tail of its stderr — they are not repeated,
// because a tool call may have had effects. A Streamable HTTP session the server forgot (404) is
// re-initialized the same way.
//
// Thread-safety: a Client may be used from any number of threads at once; calls block the calling
// thread until the answer, the timeout or a failure (run them on a blocking/detached context, as
// the MCP tools do). Callbacks run on the client's transport thread: keep them short.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/error.hpp"

namespace loomflow::mcp {

// The protocol versions we speak, newest first; the first is what `initialize` offers.
extern const std::vector<std::string> kProtocolVersions;

// A server we start ourselves and talk to over its stdin/stdout (newline-delimited JSON-RPC).
struct StdioServer {
  std::vector<std::string> command;          // program (searched in PATH) and arguments; required
  std::map<std::string, std::string> env;    // added to (or replacing in) our environment; default none
  std::string working_directory;             // default: ours
};

// A server at a Streamable HTTP endpoint (one URL for POST, GET and DELETE).
struct HttpServer {
  std::string url;                                         // e.g. http://127.0.0.1:3001/mcp; required
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Authorization; default none
};

struct ServerOptions {
  std::string name;                                   // names the server in errors and tool names; required
  std::variant<StdioServer, HttpServer> transport;
  std::chrono::milliseconds request_timeout{60'000};  // per request, restarted by each progress notification
  std::chrono::milliseconds max_request_time{600'000};  // per request, however much progress it reports
  std::chrono::milliseconds startup_timeout{30'000};  // process start + initialize (npx can be slow)
  int max_restarts = 3;                               // consecutive restarts of a dead server; 0 = never
  std::string client_name = "loomflow";               // clientInfo sent in initialize
  std::string client_version = "0.1.0";
  std::function<void()> on_tools_changed;             // after notifications/tools/list_changed; default none
};

// A tool as the server lists it.
struct ToolInfo {
  std::string name;
  std::string title;                 // may be empty
  std::string description;           // may be empty
  nlohmann::json input_schema;       // a JSON Schema object
  nlohmann::json output_schema;      // null when the tool declares none
  nlohmann::json annotations;        // null or an object (readOnlyHint, idempotentHint, ...)
  bool idempotent() const;           // annotations.idempotentHint == true
};

// One content block of a tool result.
struct Content {
  std::string type;       // "text", "image", "audio", "resource_link", "resource"
  std::string text;       // text blocks, and the text of embedded text resources
  std::string data;       // image/audio: base64 data; embedded blob resources: base64 blob
  std::string mime_type;  // image/audio/resources, when given
  std::string uri;        // resource_link and resource
};

struct CallResult {
  std::vector<Content> content;
  nlohmann::json structured_content;  // null when absent
  bool is_error = false;              // the tool reported a failure (its content says why)
  // What a model reads: the text blocks joined by newlines; other blocks summarised in brackets
  // ("[image image/png, 1452 bytes]"); with no text at all, the structured content as JSON.
  std::string text() const;
};

struct Progress {
  double progress = 0;
  std::optional<double> total;
  std::string message;
};

struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;  // default: ServerOptions::request_timeout
  std::function<void(const Progress&)> on_progress;  // asks the server for progress; default none
  nlohmann::json meta;                               // extra `_meta` fields (an object) or null
  // Set to true from another thread to cancel the call: the server gets notifications/cancelled
  // and the call returns a `cancelled` error. Default: not cancellable.
  std::shared_ptr<std::atomic<bool>> cancel;
};

struct ServerInfo {
  std::string name;
  std::string version;
  std::string protocol_version;  // the one negotiated
  nlohmann::json capabilities;
  std::string instructions;      // may be empty
};

namespace detail {
class Session;
}

class Client {
 public:
  // Starts/contacts the server and initializes. Errors name the server and what failed: the
  // command could not start, it exited (with its stderr tail), the URL refused, the server speaks
  // no protocol version we know, or it did not answer within `startup_timeout`.
  static Expected<std::shared_ptr<Client>> connect(ServerOptions options);

  ~Client();  // closes: stdio closes stdin, then SIGTERM, then SIGKILL; HTTP sends DELETE
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& name() const noexcept;
  ServerInfo server_info() const;

  // Every tool, following `nextCursor` through all pages. Cached until the server says the list
  // changed (or `refresh`).
  Expected<std::vector<ToolInfo>> list_tools(bool refresh = false);

  // A result with is_error = true is a value (the tool failed and said why); an Error is a failed
  // request: unknown tool / invalid params (-32602, -32601), timeout (`deadline_exceeded`, and the
  // server is told to cancel), the server died (`unavailable`), cancelled, or a malformed answer.
  Expected<CallResult> call_tool(const std::string& name, const nlohmann::json& arguments,
                                 const CallOptions& options = {});

  Expected<void> ping();

  // Any request, for what this class has no method for; returns the `result` object.
  Expected<nlohmann::json> request(const std::string& method, nlohmann::json params,
                                   const CallOptions& options = {});

  // How many times the server was restarted (stdio) or re-initialized (HTTP).
  int restarts() const;
  // The stdio server's process id, or 0 (HTTP, or not running). For tests and diagnostics.
  long server_pid() const;

 private:
  explicit Client(std::unique_ptr<detail::Session> session);
  std::unique_ptr<detail::Session> session_;
};

}  // namespace loomflow::mcp
