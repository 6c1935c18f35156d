// The OpenAI-compatible endpoint: every hosted agent and workflow is a "model".
//
// POST /v1/chat/completions takes the Chat Completions request: the last message (role user) is the
// run's input; for agents the earlier messages become the run's history (system/developer, user,
// assistant; text content only). Workflows take the last user message only. Sampling parameters
// (temperature, max_tokens, ...) are the hosted agent's own and are ignored here. With
// `stream: true` the answer is SSE `chat.completion.chunk`s ending in `data: [DONE]`, with a usage
// chunk when `stream_options.include_usage` is set. An agent streams the text of its own model calls
// as it is generated (nested agents' text is not part of the answer); a workflow's answer is its
// output, known only at its end, sent as one chunk.
#include <variant>

#include "loomflow/serve/app.hpp"
#include "loomflow/serve/responses.hpp"

namespace loomflow::serve {

namespace {

struct ChatRequest {
  std::string model;
  std::string input;
  std::vector<Message> history;
  bool stream = false;
  bool include_usage = false;
};

// A message's text: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> text_of(const nlohmann::json& content, std::string& why) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) {
    why = "must be a string or an array of text parts";
    return std::nullopt;
  }
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      why = "only text parts ({\"type\": \"text\", \"text\": ...}) are supported";
      return std::nullopt;
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// The request, or the 400 to answer with.
std::variant<ChatRequest, http::Response> parse_chat(const nlohmann::json& body) {
  auto bad = [](const std::string& message, const std::string& param) {
    return error_response(400, "invalid_request_error", "invalid_request", message, param);
  };
  ChatRequest chat;
  if (!body.contains("model") || !body["model"].is_string()) return bad("'model' (string) is required", "model");
  chat.model = body["model"].get<std::string>();
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
    return bad("'messages' must be a non-empty array", "messages");
  if (body.contains("n") && !(body["n"].is_number_integer() && body["n"].get<int>() == 1))
    return bad("only n = 1 is supported", "n");
  if (body.contains("stream") && !body["stream"].is_boolean()) return bad("'stream' must be a boolean", "stream");
  chat.stream = body.value("stream", false);
  if (auto options = body.find("stream_options"); options != body.end() && !options->is_null()) {
    if (!options->is_object()) return bad("'stream_options' must be an object", "stream_options");
    if (options->contains("include_usage") && !(*options)["include_usage"].is_boolean())
      return bad("'stream_options.include_usage' must be a boolean", "stream_options.include_usage");
    chat.include_usage = options->value("include_usage", false);
  }
  const auto& messages = body["messages"];
  for (std::size_t k = 0; k < messages.size(); ++k) {
    const std::string where = "messages[" + std::to_string(k) + "]";
    const auto& m = messages[k];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad(where + " must be an object with a 'role'", where);
    const auto role = m["role"].get<std::string>();
    std::string why;
    auto text = text_of(m.value("content", nlohmann::json()), why);
    if (!text) return bad(where + ".content " + why, where + ".content");
    const bool last = k + 1 == messages.size();
    if (last) {
      if (role != "user") return bad("the last message must have role 'user', not '" + role + "'", where + ".role");
      chat.input = std::move(*text);
    } else if (role == "system" || role == "developer") {
      chat.history.push_back(Message::system(std::move(*text)));
    } else if (role == "user") {
      chat.history.push_back(Message::user(std::move(*text)));
    } else if (role == "assistant") {
      chat.history.push_back(Message::assistant(std::move(*text)));
    } else {
      return bad(where + ": role '" + role + "' is not supported (system, developer, user, assistant)", where + ".role");
    }
  }
  return chat;
}

nlohmann::ordered_json usage_of(const Usage& u) {
  return {{"prompt_tokens", u.input_tokens},
          {"completion_tokens", u.output_tokens},
          {"total_tokens", u.total_tokens()}};
}

// True for the text of the top-level agent's own model calls: "<agent>/turn-<N>/model".
bool own_turn_text(const RunEvent& e, const std::string& agent) {
  if (e.kind != EventKind::text_delta) return false;
  const std::string prefix = agent + "/turn-";
  if (e.path.rfind(prefix, 0) != 0) return false;
  const auto rest = std::string_view(e.path).substr(prefix.size());
  const auto slash = rest.find('/');
  return slash != std::string_view::npos && rest.substr(slash) == "/model";
}

// Turns a run's events into chat.completion.chunk SSE frames, in order.
class ChunkWriter {
 public:
  ChunkWriter(std::string id, std::string model, std::int64_t created, std::string agent, bool include_usage)
      : id_(std::move(id)), model_(std::move(model)), created_(created), agent_(std::move(agent)),
        include_usage_(include_usage) {}

  std::string operator()(const RunEvent& e) {
    std::string out;
    if (!started_) {
      started_ = true;
      out += frame({{"role", "assistant"}, {"content", ""}}, nullptr);
    }
    if (!agent_.empty() && own_turn_text(e, agent_)) out += frame({{"content", e.text}}, nullptr);
    if (e.kind == EventKind::error) {
      failed_ = true;
      nlohmann::ordered_json error = {{"message", e.text}, {"type", "server_error"}, {"param", nullptr},
                                      {"code", nlohmann::json::parse(e.data, nullptr, false).value("code", "run_failed")}};
      out += "data: " + nlohmann::ordered_json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
    }
    if (e.kind == EventKind::run_finished && e.ok && !failed_) {
      if (agent_.empty() && !e.text.empty()) out += frame({{"content", e.text}}, nullptr);
      out += frame(nlohmann::ordered_json::object(), "stop");
      if (include_usage_) out += usage_frame(e.usage);
    }
    return out;
  }

 private:
  nlohmann::ordered_json head() const {
    return {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_}, {"model", model_}};
  }
  std::string frame(nlohmann::ordered_json delta, const char* finish_reason) const {
    auto chunk = head();
    nlohmann::ordered_json choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}};
    choice["finish_reason"] = finish_reason ? nlohmann::ordered_json(finish_reason) : nlohmann::ordered_json(nullptr);
    chunk["choices"] = nlohmann::ordered_json::array({std::move(choice)});
    if (include_usage_) chunk["usage"] = nullptr;
    return "data: " + chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
  }
  std::string usage_frame(const Usage& u) const {
    auto chunk = head();
    chunk["choices"] = nlohmann::ordered_json::array();
    chunk["usage"] = usage_of(u);
    return "data: " + chunk.dump() + "\n\n";
  }

  std::string id_, model_;
  std::int64_t created_;
  std::string agent_;  // the agent whose own text streams; empty for workflows
  bool include_usage_;
  bool started_ = false;
  bool failed_ = false;
};

std::int64_t unix_now_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

void App::list_models(const http::ExchangePtr& exchange) {
  nlohmann::ordered_json data = nlohmann::ordered_json::array();
  for (const auto& [name, target] : hosted_.targets)
    data.push_back({{"id", name}, {"object", "model"}, {"created", started_unix_}, {"owned_by", "loomflow"}});
  exchange->respond(json_response(200, {{"object", "list"}, {"data", std::move(data)}}));
}

void App::chat_completions(const http::ExchangePtr& exchange, const UserId& user, const nlohmann::json& body) {
  if (shutting_down_)
    return (void)exchange->respond(error_response(503, "server_error", "shutting_down", "the server is shutting down"));
  auto parsed = parse_chat(body);
  if (auto* response = std::get_if<http::Response>(&parsed)) return (void)exchange->respond(std::move(*response));
  auto& chat = std::get<ChatRequest>(parsed);
  const auto* target = hosted_.find(chat.model);
  if (target == nullptr)
    return (void)exchange->respond(error_response(404, "invalid_request_error", "model_not_found",
                                            "the model '" + chat.model + "' does not exist (GET /v1/models lists them)",
                                            "model"));
  if (!target->agent) chat.history.clear();
  auto run_id = runs_.fresh_id();
  const std::string id = "chatcmpl-" + run_id;
  const auto created = unix_now_s();
  if (!chat.stream) {
    auto record = start_run(std::move(run_id), *target, user, std::move(chat.input), std::move(chat.history));
    record->hub->when_finished([exchange, record, id, created, model = chat.model] {
      auto result = record->hub->run().wait();
      if (!result) {
        exchange->respond(error_response(500, "server_error", std::string(to_string(result.error().code)),
                                         result.error().message));
        return;
      }
      nlohmann::ordered_json message = {{"role", "assistant"}, {"content", result->output}, {"refusal", nullptr}};
      nlohmann::ordered_json choice = {{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr},
                                       {"finish_reason", "stop"}};
      auto response = json_response(200, {{"id", id},
                                           {"object", "chat.completion"},
                                           {"created", created},
                                           {"model", model},
                                           {"choices", nlohmann::ordered_json::array({std::move(choice)})},
                                           {"usage", usage_of(result->usage)}});
      response.headers.emplace_back("X-Loomflow-Run-Id", record->id);
      exchange->respond(std::move(response));
    });
    // A client that gives up cancels the run it asked for.
    std::weak_ptr<RunRecord> weak = record;
    exchange->on_close([weak] {
      if (auto run = weak.lock()) run->hub->cancel();
    });
    return;
  }
  auto headers = sse_headers();
  headers.emplace_back("X-Loomflow-Run-Id", run_id);
  exchange->start_stream(200, std::move(headers));
  Subscriber subscriber;
  subscriber.exchange = exchange;
  auto writer = std::make_shared<ChunkWriter>(id, chat.model, created,
                                              target->agent ? target->agent->name() : std::string(), chat.include_usage);
  subscriber.format = [writer](const RunEvent& e) { return (*writer)(e); };
  subscriber.trailer = [] { return std::string("data: [DONE]\n\n"); };
  subscriber.primary = true;
  start_run(std::move(run_id), *target, user, std::move(chat.input), std::move(chat.history), std::move(subscriber));
}

}  // namespace loomflow::serve
