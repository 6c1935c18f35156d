// The Streamable HTTP transport (MCP 2025-03-26 and later): every message is a POST to one URL; a
// request's answer comes back as a JSON body or as a `text/event-stream` carrying progress
// notifications and then the response. Notifications and responses we send get 202. The session id
// the server gives in `Mcp-Session-Id` goes with every later message, with `MCP-Protocol-Version`;
// a 404 on a session means the server forgot it. A GET opens the server's own event stream (405
// when it has none), and closing sends DELETE. A stream cut before its response is resumed once
// with GET and `Last-Event-ID`. All I/O runs on the HttpClient's thread.
#include <condition_variable>
#include <future>
#include <mutex>

#include "loomflow/providers/http/http_client.hpp"
#include "loomflow/providers/wire/sse.hpp"
#include "loomflow/tools/mcp/transport.hpp"

namespace loomflow::mcp::detail {
namespace {

using providers::http::HttpClient;
using providers::http::HttpRequest;
using providers::http::HttpResponse;

constexpr auto kInitializedWait = std::chrono::seconds(10);

bool is_response_to(const nlohmann::json& message, const nlohmann::json& id) {
  return message.is_object() && message.contains("id") && message["id"] == id &&
         (message.contains("result") || message.contains("error"));
}

ErrorCode code_for_status(int status) {
  if (status == 401 || status == 403) return ErrorCode::permission_denied;
  if (status == 408 || status == 429 || status >= 500) return ErrorCode::unavailable;
  return ErrorCode::invalid_argument;
}

class HttpTransport final : public Transport, public std::enable_shared_from_this<HttpTransport> {
 public:
  HttpTransport(std::string name, HttpServer server) : name_(std::move(name)), server_(std::move(server)) {}

  Expected<void> open(TransportEvents events) override {
    close();
    std::lock_guard<std::mutex> guard(mutex_);
    if (server_.url.rfind("http://", 0) != 0 && server_.url.rfind("https://", 0) != 0)
      return Error{ErrorCode::invalid_argument, "MCP server '" + name_ + "': URL '" + server_.url + "' is not http(s)"};
    client_ = std::make_shared<HttpClient>();
    state_ = std::make_shared<State>();
    state_->events = std::move(events);
    return {};
  }

  Expected<void> send(const nlohmann::json& message) override {
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<State> state;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      client = client_;
      state = state_;
    }
    if (!client) return Error{ErrorCode::unavailable, "MCP server '" + name_ + "': not connected"};
    const bool is_request = message.contains("method") && message.contains("id");
    HttpRequest request = base_request(*state, "POST");
    request.body = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    request.headers.emplace_back("Content-Type", "application/json");
    request.headers.emplace_back("Accept", "application/json, text/event-stream");
    const std::string method = message.value("method", std::string());
    // POSTs travel independently, so a server may see them in any order. One order matters: the
    // server must have `notifications/initialized` before our first request, so wait for its 202.
    std::shared_ptr<std::promise<void>> delivered;
    if (method == "notifications/initialized") delivered = std::make_shared<std::promise<void>>();
    auto future = delivered ? delivered->get_future() : std::future<void>();
    post(client, state, std::move(request), is_request ? message["id"] : nlohmann::json(), method, delivered);
    if (delivered && future.wait_for(kInitializedWait) != std::future_status::ready)
      return Error{ErrorCode::unavailable, "MCP server '" + name_ + "' did not acknowledge notifications/initialized"};
    return {};
  }

  void initialized(const std::string& protocol_version) override {
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<State> state;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      client = client_;
      state = state_;
      if (!state) return;
      std::lock_guard<std::mutex> s(state->mutex);
      state->protocol_version = protocol_version;
    }
    listen(client, state, "");
  }

  void close() override {
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<State> state;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      client = std::move(client_);
      state = std::move(state_);
    }
    if (!client) return;
    std::string session;
    {
      std::lock_guard<std::mutex> s(state->mutex);
      state->closing = true;
      session = state->session_id;
    }
    if (!session.empty()) {
      // Tell the server the session is over; wait briefly, it is a courtesy.
      HttpRequest request = base_request(*state, "DELETE");
      request.total_timeout = std::chrono::milliseconds(2000);
      auto done = std::make_shared<std::promise<void>>();
      auto future = done->get_future();
      client->send(std::move(request), nullptr, [done](Expected<HttpResponse>) { done->set_value(); });
      future.wait_for(std::chrono::milliseconds(2500));
    }
    client.reset();  // cancels the GET stream and whatever is in flight; no event is delivered after
  }

 private:
  struct State {
    std::mutex mutex;
    TransportEvents events;
    std::string session_id;
    std::string protocol_version;
    bool closing = false;
    bool lost = false;  // `closed` was delivered
  };

  // What one POST or GET stream parses.
  struct Stream {
    providers::wire::SseParser sse;
    bool is_sse = false;
    std::string json_body;
    std::string last_event_id;
    bool answered = false;
  };

  HttpRequest base_request(State& state, std::string method) {
    HttpRequest request;
    request.method = std::move(method);
    request.url = server_.url;
    request.idle_timeout = std::chrono::milliseconds(24LL * 3600 * 1000);  // the Session owns request timeouts
    request.total_timeout = std::chrono::milliseconds(24LL * 3600 * 1000);
    request.headers = server_.headers;
    std::lock_guard<std::mutex> s(state.mutex);
    if (!state.session_id.empty()) request.headers.emplace_back("Mcp-Session-Id", state.session_id);
    if (!state.protocol_version.empty()) request.headers.emplace_back("MCP-Protocol-Version", state.protocol_version);
    return request;
  }

  static void deliver(const std::shared_ptr<State>& state, nlohmann::json message) {
    if (message.is_array()) {  // a JSON-RPC batch
      for (auto& m : message) deliver(state, std::move(m));
      return;
    }
    std::function<void(nlohmann::json)> sink;
    {
      std::lock_guard<std::mutex> s(state->mutex);
      if (state->closing || state->lost) return;
      sink = state->events.message;
    }
    sink(std::move(message));
  }

  void fail(const std::shared_ptr<State>& state, const nlohmann::json& id, Error error) {
    if (id.is_null()) return;  // a notification or response of ours: nobody waits for it
    std::function<void(const nlohmann::json&, Error)> sink;
    {
      std::lock_guard<std::mutex> s(state->mutex);
      if (state->closing || state->lost) return;
      sink = state->events.request_failed;
    }
    sink(id, std::move(error));
  }

  void lose(const std::shared_ptr<State>& state, Error reason) {
    std::function<void(Error)> sink;
    {
      std::lock_guard<std::mutex> s(state->mutex);
      if (state->closing || state->lost) return;
      state->lost = true;
      sink = state->events.closed;
    }
    sink(std::move(reason));
  }

  // Feeds body bytes of a POST or GET answer to its parser; delivers complete messages.
  static void feed(const std::shared_ptr<State>& state, Stream& stream, const nlohmann::json& id, std::string_view bytes) {
    if (!stream.is_sse) {
      stream.json_body.append(bytes);
      return;
    }
    std::vector<providers::wire::SseEvent> events;
    stream.sse.feed(bytes, events);
    for (auto& event : events) {
      if (!event.id.empty()) stream.last_event_id = event.id;
      // The priming event (an id and empty data) only gives a resumption point.
      if (event.data.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      auto message = nlohmann::json::parse(event.data, nullptr, false);
      if (message.is_discarded()) continue;
      if (!id.is_null() && is_response_to(message, id)) stream.answered = true;
      deliver(state, std::move(message));
    }
  }

  void post(const std::shared_ptr<HttpClient>& client, const std::shared_ptr<State>& state, HttpRequest request,
            nlohmann::json id, std::string method, std::shared_ptr<std::promise<void>> delivered = nullptr) {
    auto stream = std::make_shared<Stream>();
    auto self = weak_from_this();
    const bool had_session = [&] {
      std::lock_guard<std::mutex> s(state->mutex);
      return !state->session_id.empty();
    }();
    auto on_head = [state, stream](const HttpResponse& head) {
      stream->is_sse = head.header("content-type").find("text/event-stream") != std::string::npos;
      if (auto sid = head.header("mcp-session-id"); !sid.empty()) {
        std::lock_guard<std::mutex> s(state->mutex);
        state->session_id = sid;
      }
    };
    auto on_data = [state, stream, id](std::string_view bytes) {
      feed(state, *stream, id, bytes);
      return true;
    };
    auto on_done = [this, self, client_weak = std::weak_ptr<HttpClient>(client), state, stream, id, method,
                    had_session, delivered](Expected<HttpResponse> response) {
      if (delivered) delivered->set_value();
      auto alive = self.lock();
      if (!alive) return;
      const std::string what = "MCP server '" + name_ + "'" + (method.empty() ? "" : " (" + method + ")");
      if (!response) {
        fail(state, id, Error{response.error().code, what + ": " + response.error().message});
        return;
      }
      const int status = response->status;
      if (status == 404 && had_session) {
        // Lost before this request fails, so no request that follows goes out on the dead session.
        lose(state, Error{ErrorCode::unavailable, "MCP server '" + name_ + "' no longer knows our session (HTTP 404)"});
        return;
      }
      if (status < 200 || status >= 300) {
        std::string body = response->body.substr(0, 300);
        fail(state, id, Error{code_for_status(status), what + ": HTTP " + std::to_string(status) +
                                                           (body.empty() ? "" : ": " + body)});
        return;
      }
      if (auto sid = response->header("mcp-session-id"); !sid.empty()) {
        std::lock_guard<std::mutex> s(state->mutex);
        state->session_id = sid;
      }
      if (!stream->is_sse && !response->body.empty()) {  // a JSON body not streamed (no OnData call)
        stream->is_sse = response->header("content-type").find("text/event-stream") != std::string::npos;
        feed(state, *stream, id, response->body);
      }
      if (!stream->is_sse && !stream->json_body.empty()) {
        auto message = nlohmann::json::parse(stream->json_body, nullptr, false);
        if (message.is_discarded()) {
          fail(state, id, Error{ErrorCode::tool_error, what + ": the response body is not JSON"});
          return;
        }
        if (!id.is_null() && (is_response_to(message, id) || message.is_array())) stream->answered = true;
        deliver(state, std::move(message));
      }
      if (id.is_null() || stream->answered) return;
      if (status == 202) {
        fail(state, id, Error{ErrorCode::tool_error, what + ": the server accepted a request without answering it (HTTP 202)"});
      } else if (stream->is_sse && !stream->last_event_id.empty()) {
        if (auto client = client_weak.lock()) listen(client, state, stream->last_event_id, id, method);
      } else {
        fail(state, id, Error{ErrorCode::unavailable, what + ": the response stream ended before the response"});
      }
    };
    client->send(std::move(request), std::move(on_head), std::move(on_data), std::move(on_done));
  }

  // A GET stream: the server's own messages, or (with `last_event_id`) the rest of a cut stream
  // that still owes the response to `id`.
  void listen(const std::shared_ptr<HttpClient>& client, const std::shared_ptr<State>& state,
              const std::string& last_event_id, nlohmann::json id = nullptr, std::string method = {}) {
    if (!client) return;
    HttpRequest request = base_request(*state, "GET");
    request.headers.emplace_back("Accept", "text/event-stream");
    if (!last_event_id.empty()) request.headers.emplace_back("Last-Event-ID", last_event_id);
    auto stream = std::make_shared<Stream>();
    stream->is_sse = true;
    auto self = weak_from_this();
    auto on_data = [state, stream, id](std::string_view bytes) {
      feed(state, *stream, id, bytes);
      return true;
    };
    auto on_done = [this, self, state, stream, id, method](Expected<HttpResponse> response) {
      auto alive = self.lock();
      if (!alive || id.is_null() || stream->answered) return;  // the server's stream ended, or 405: fine
      const std::string what = "MCP server '" + name_ + "'" + (method.empty() ? "" : " (" + method + ")");
      fail(state, id, Error{ErrorCode::unavailable, what + ": the response stream was cut and could not be resumed" +
                                                        (response ? " (HTTP " + std::to_string(response->status) + ")"
                                                                  : ": " + response.error().message)});
    };
    client->send(std::move(request), nullptr, std::move(on_data), std::move(on_done));
  }

  const std::string name_;
  const HttpServer server_;
  std::mutex mutex_;
  std::shared_ptr<HttpClient> client_;
  std::shared_ptr<State> state_;
};

// The Session holds a unique_ptr; the callbacks need weak references: a small owning shell.
class HttpTransportHandle final : public Transport {
 public:
  explicit HttpTransportHandle(std::shared_ptr<HttpTransport> impl) : impl_(std::move(impl)) {}
  ~HttpTransportHandle() override { impl_->close(); }
  Expected<void> open(TransportEvents events) override { return impl_->open(std::move(events)); }
  Expected<void> send(const nlohmann::json& message) override { return impl_->send(message); }
  void initialized(const std::string& version) override { impl_->initialized(version); }
  void close() override { impl_->close(); }

 private:
  std::shared_ptr<HttpTransport> impl_;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const std::string& server_name, HttpServer server) {
  return std::make_unique<HttpTransportHandle>(std::make_shared<HttpTransport>(server_name, std::move(server)));
}

}  // namespace loomflow::mcp::detail
