#include "loomflow/serve/app.hpp"

#include <cctype>
#include <chrono>

#include "loomflow/serve/responses.hpp"
#include "loomflow/usage_json.hpp"

namespace loomflow::serve {

namespace {

std::int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

void not_found(const http::ExchangePtr& exchange) {
  exchange->respond(error_response(404, "not_found_error", "not_found",
                                   "no route for " + exchange->request().method + " " + exchange->request().path));
}

void method_not_allowed(const http::ExchangePtr& exchange, const std::string& allow) {
  auto response = error_response(405, "invalid_request_error", "method_not_allowed",
                                 exchange->request().method + " is not allowed on " + exchange->request().path +
                                     " (allowed: " + allow + ")");
  response.headers.emplace_back("Allow", allow);
  exchange->respond(std::move(response));
}

void run_not_found(const http::ExchangePtr& exchange, const std::string& id) {
  exchange->respond(error_response(404, "not_found_error", "run_not_found", "no run '" + id + "'"));
}

// A POST body: JSON of the right content type, or a 4xx answer (and nothing).
std::optional<nlohmann::json> json_body(const http::ExchangePtr& exchange) {
  const auto& request = exchange->request();
  auto type = request.header("content-type");
  const auto semicolon = type.find(';');
  if (semicolon != std::string::npos) type.resize(semicolon);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type != "application/json") {
    exchange->respond(error_response(415, "invalid_request_error", "unsupported_media_type",
                                     "the request body must be application/json, not '" +
                                         (type.empty() ? std::string("(none)") : type) + "'"));
    return std::nullopt;
  }
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded()) {
    // Parse again for the position of the first error.
    std::string why;
    try {
      auto unused = nlohmann::json::parse(request.body);  // throws with the position
      static_cast<void>(unused);
    } catch (const nlohmann::json::parse_error& e) {
      why = e.what();
    }
    exchange->respond(error_response(400, "invalid_request_error", "invalid_json",
                                     "the request body is not valid JSON: " + why));
    return std::nullopt;
  }
  if (!body.is_object()) {
    exchange->respond(error_response(400, "invalid_request_error", "invalid_json", "the request body must be a JSON object"));
    return std::nullopt;
  }
  return body;
}

std::string status_of(const RunRecord& record) {
  if (!record.hub->run().ready()) return "running";
  auto result = record.hub->run().wait();
  if (result) return "succeeded";
  return result.error().code == ErrorCode::cancelled ? "cancelled" : "failed";
}

// What `loomflow runs resume` needs besides the spec: which agent ran (agent targets run the agent,
// not the spec's workflow) and the chat history the run started with.
std::string resumable_origin(const std::string& spec_origin, const HostedTarget& target,
                             const std::vector<Message>& history) {
  auto origin = nlohmann::json::parse(spec_origin, nullptr, false);
  if (!origin.is_object()) return spec_origin;
  origin["target"] = target.name;
  if (target.agent) origin["agent"] = target.agent_key;
  if (!history.empty()) {
    auto& turns = origin["history"] = nlohmann::json::array();
    for (const auto& m : history) turns.push_back({{"role", std::string(to_string(m.role))}, {"content", m.content}});
  }
  return origin.dump();
}

}  // namespace

nlohmann::ordered_json run_json(const RunRecord& record) {
  nlohmann::ordered_json out = {{"id", record.id},
                                {"target", record.target},
                                {"user_id", record.user.str()},
                                {"status", status_of(record)},
                                {"created_at_ms", record.created_unix_ms}};
  if (!record.hub->run().ready()) return out;
  auto result = record.hub->run().wait();
  if (result) {
    out["output"] = result->output;
    out["visited"] = result->visited;
    out["usage"] = usage_json(result->usage);
  } else {
    out["error"] = {{"code", std::string(to_string(result.error().code))}, {"message", result.error().message}};
  }
  return out;
}

App::App(Runtime& runtime, const Hosted& hosted, ApiKeys keys, AppOptions options)
    : runtime_(runtime),
      hosted_(hosted),
      keys_(std::move(keys)),
      options_(std::move(options)),
      runs_(options_.keep_finished_runs),
      started_unix_(unix_now_ms() / 1000) {
  for (const auto& [name, target] : hosted_.targets) {
    if (target.workflow) runtime_.prepare(*target.workflow);
    if (target.agent) runtime_.prepare(*target.agent);
  }
}

App::~App() {
  runs_.cancel_all();
  runs_.wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(10));
}

std::shared_ptr<RunRecord> App::start_run(std::string id, const HostedTarget& target, const UserId& user,
                                          std::string input, std::vector<Message> history,
                                          std::optional<Subscriber> primary) {
  auto record = std::make_shared<RunRecord>();
  record->id = std::move(id);
  record->user = user;
  record->target = target.name;
  record->created_unix_ms = unix_now_ms();
  RunOptions run_options;
  run_options.user_id = user;
  run_options.session_id = SessionId{record->id};
  run_options.timeout = options_.run_timeout;
  if (options_.origin) run_options.origin = resumable_origin(options_.origin(target), target, history);
  run_options.history = std::move(history);
  StreamOptions stream_options;
  stream_options.on_abandon = StreamOptions::OnAbandon::detach;  // the hub decides about cancelling
  auto stream = target.agent ? runtime_.stream(*target.agent, std::move(input), std::move(run_options), stream_options)
                             : runtime_.stream(*target.workflow, std::move(input), std::move(run_options), stream_options);
  record->hub = std::make_shared<RunHub>(std::move(stream), options_.hub);
  if (primary) record->hub->subscribe(std::move(*primary));
  record->hub->start();
  runs_.add(record);
  return record;
}

std::optional<UserId> App::authenticate(const http::ExchangePtr& exchange) {
  if (!options_.require_keys) return UserId{"anonymous"};
  const auto header = exchange->request().header("authorization");
  const auto token = bearer_token(header);
  if (token.empty()) {
    exchange->respond(error_response(401, "authentication_error", "missing_api_key",
                                     "no API key: send `Authorization: Bearer KEY`"));
    return std::nullopt;
  }
  auto user = keys_.user_for(token);
  if (!user) {
    exchange->respond(error_response(401, "authentication_error", "invalid_api_key", "the API key is not valid"));
    return std::nullopt;
  }
  return user;
}

void App::handle(const http::ExchangePtr& exchange) {
  const auto& request = exchange->request();
  if (request.path == "/healthz") {
    exchange->respond(json_response(200, {{"status", "ok"}}));
    return;
  }
  if (request.path == "/readyz") {
    if (shutting_down_)
      exchange->respond(json_response(503, {{"status", "shutting_down"}}));
    else
      exchange->respond(json_response(200, {{"status", "ready"}, {"running", runs_.running()}}));
    return;
  }
  if (request.path != "/v1" && request.path.rfind("/v1/", 0) != 0) {
    not_found(exchange);
    return;
  }
  auto user = authenticate(exchange);
  if (!user) return;
  route_v1(exchange, *user);
}

void App::route_v1(const http::ExchangePtr& exchange, const UserId& user) {
  const auto& request = exchange->request();
  const auto parts = split_path(request.path);  // "v1", ...
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (parts.size() == 2 && parts[1] == "targets") {
    if (!get) return method_not_allowed(exchange, "GET");
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& [name, target] : hosted_.targets)
      list.push_back({{"name", name},
                      {"kind", target.kind == HostedTarget::Kind::agent ? "agent" : "workflow"},
                      {"description", target.description}});
    exchange->respond(json_response(200, {{"object", "list"}, {"data", std::move(list)}}));
    return;
  }
  if (parts.size() == 2 && parts[1] == "runs") {
    if (post) {
      if (auto body = json_body(exchange)) post_run(exchange, user, *body);
      return;
    }
    if (!get) return method_not_allowed(exchange, "GET, POST");
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& record : runs_.list(user)) list.push_back(run_json(*record));
    exchange->respond(json_response(200, {{"object", "list"}, {"data", std::move(list)}}));
    return;
  }
  if (parts.size() == 3 && parts[1] == "runs") {
    if (!get) return method_not_allowed(exchange, "GET");
    get_run(exchange, user, parts[2]);
    return;
  }
  if (parts.size() == 4 && parts[1] == "runs" && parts[3] == "cancel") {
    if (!post) return method_not_allowed(exchange, "POST");
    auto record = runs_.find(parts[2], user);
    if (!record) return run_not_found(exchange, parts[2]);
    record->hub->cancel();
    exchange->respond(json_response(202, {{"id", record->id}, {"status", status_of(*record)}, {"cancel_requested", true}}));
    return;
  }
  if (parts.size() == 4 && parts[1] == "runs" && parts[3] == "events") {
    if (!get) return method_not_allowed(exchange, "GET");
    stream_events(exchange, user, parts[2]);
    return;
  }
  if (parts.size() == 2 && parts[1] == "models") {
    if (!get) return method_not_allowed(exchange, "GET");
    list_models(exchange);
    return;
  }
  if (parts.size() >= 3 && parts[1] == "models") {  // model ids may contain '/': "support/billing"
    if (!get) return method_not_allowed(exchange, "GET");
    std::string id = parts[2];
    for (std::size_t k = 3; k < parts.size(); ++k) id += "/" + parts[k];
    if (hosted_.find(id) == nullptr)
      return (void)exchange->respond(error_response(404, "invalid_request_error", "model_not_found",
                                              "the model '" + id + "' does not exist"));
    exchange->respond(json_response(
        200, {{"id", id}, {"object", "model"}, {"created", started_unix_}, {"owned_by", "loomflow"}}));
    return;
  }
  if (parts.size() == 3 && parts[1] == "chat" && parts[2] == "completions") {
    if (!post) return method_not_allowed(exchange, "POST");
    if (auto body = json_body(exchange)) chat_completions(exchange, user, *body);
    return;
  }
  not_found(exchange);
}

void App::post_run(const http::ExchangePtr& exchange, const UserId& user, const nlohmann::json& body) {
  if (shutting_down_)
    return (void)exchange->respond(error_response(503, "server_error", "shutting_down", "the server is shutting down"));
  auto target_field = body.find("target");
  if (target_field == body.end() || !target_field->is_string())
    return (void)exchange->respond(error_response(400, "invalid_request_error", "missing_field",
                                            "'target' (string) is required: the hosted agent or workflow to run", "target"));
  const auto* target = hosted_.find(target_field->get<std::string>());
  if (target == nullptr)
    return (void)exchange->respond(error_response(404, "invalid_request_error", "target_not_found",
                                            "no hosted agent or workflow '" + target_field->get<std::string>() +
                                                "' (GET /v1/targets lists them)", "target"));
  auto input = body.find("input");
  if (input == body.end() || !input->is_string())
    return (void)exchange->respond(error_response(400, "invalid_request_error", "missing_field", "'input' (string) is required", "input"));
  if (body.contains("stream") && !body["stream"].is_boolean())
    return (void)exchange->respond(
        error_response(400, "invalid_request_error", "invalid_field", "'stream' must be a boolean", "stream"));
  const bool stream = body.value("stream", false);
  const auto disconnect_field = body.find("on_disconnect");
  const std::string on_disconnect =
      disconnect_field == body.end() ? "cancel" : disconnect_field->is_string() ? disconnect_field->get<std::string>() : "";
  if (on_disconnect != "cancel" && on_disconnect != "detach")
    return (void)exchange->respond(error_response(400, "invalid_request_error", "invalid_field",
                                            "'on_disconnect' must be \"cancel\" or \"detach\"", "on_disconnect"));
  auto id = runs_.fresh_id();
  if (!stream) {
    auto record = start_run(std::move(id), *target, user, input->get<std::string>(), {});
    auto response = json_response(202, run_json(*record));
    response.headers.emplace_back("Location", "/v1/runs/" + record->id);
    exchange->respond(std::move(response));
    return;
  }
  auto headers = sse_headers();
  headers.emplace_back("X-Loomflow-Run-Id", id);
  exchange->start_stream(200, std::move(headers));
  Subscriber subscriber;
  subscriber.exchange = exchange;
  subscriber.format = sse_frame;
  subscriber.primary = true;
  subscriber.cancel_on_disconnect = on_disconnect == "cancel";
  start_run(std::move(id), *target, user, input->get<std::string>(), {}, std::move(subscriber));
}

void App::get_run(const http::ExchangePtr& exchange, const UserId& user, const std::string& id) {
  auto record = runs_.find(id, user);
  if (!record) return run_not_found(exchange, id);
  const auto wait = exchange->request().query_param("wait");
  if (wait != "true" && wait != "1") {
    exchange->respond(json_response(200, run_json(*record)));
    return;
  }
  record->hub->when_finished([exchange, record] { exchange->respond(json_response(200, run_json(*record))); });
}

void App::stream_events(const http::ExchangePtr& exchange, const UserId& user, const std::string& id) {
  auto record = runs_.find(id, user);
  if (!record) return run_not_found(exchange, id);
  Subscriber subscriber;
  subscriber.exchange = exchange;
  // Resume after the last event the client saw (SSE reconnects send Last-Event-ID), or from ?after=N.
  auto after = exchange->request().header("last-event-id");
  if (after.empty()) after = exchange->request().query_param("after");
  if (!after.empty()) {
    char* end = nullptr;
    const auto seen = std::strtoull(after.c_str(), &end, 10);
    if (end == after.c_str() || *end != '\0' || !std::isdigit(static_cast<unsigned char>(after.front())))
      return (void)exchange->respond(error_response(400, "invalid_request_error", "invalid_field",
                                              "Last-Event-ID / after must be an event number, got '" + after + "'"));
    subscriber.from_seq = seen + 1;
  }
  if (exchange->is_websocket_upgrade()) {
    std::weak_ptr<RunRecord> weak = record;
    // The client may send {"type": "cancel"}; anything else is ignored.
    exchange->accept_websocket([weak](std::string message, bool) {
      auto json = nlohmann::json::parse(message, nullptr, false);
      if (json.is_object() && json.contains("type") && json["type"] == "cancel")
        if (auto run = weak.lock()) run->hub->cancel();
    });
    subscriber.format = [](const RunEvent& event) { return to_json(event); };
  } else {
    exchange->start_stream(200, sse_headers());
    subscriber.format = sse_frame;
  }
  record->hub->subscribe(std::move(subscriber));
}

}  // namespace loomflow::serve
