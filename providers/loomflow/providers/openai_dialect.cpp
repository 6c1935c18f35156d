// The OpenAI Chat Completions dialect (wire format in wire/openai_chat.hpp).
#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/wire/openai_chat.hpp"

namespace loomflow::providers {

namespace {

class OpenAIStreamReader final : public StreamReader {
 public:
  explicit OpenAIStreamReader(std::string label) : accumulator_(std::move(label)) {}
  Expected<void> on_event(const wire::SseEvent& event) override { return accumulator_.on_event(event); }
  void set_text_sink(std::function<void(std::string_view)> sink) override { accumulator_.on_text = std::move(sink); }
  // Some OpenAI-compatible servers end without "data: [DONE]"; a finish_reason then suffices.
  Expected<ModelResponse> finish() override { return accumulator_.finish(/*allow_missing_done=*/true); }

 private:
  wire::openai::ChatStreamAccumulator accumulator_;
};

class OpenAIDialect final : public Dialect {
 public:
  std::string_view api_name() const noexcept override { return "openai"; }
  std::string path() const override { return "/chat/completions"; }
  http::Headers headers(const std::string& api_key, bool stream) const override {
    http::Headers h{{"content-type", "application/json"}, {"accept", stream ? "text/event-stream" : "application/json"}};
    if (!api_key.empty()) h.emplace_back("authorization", "Bearer " + api_key);
    return h;
  }
  Expected<std::string> build(const ModelRequest& request, const CallSettings& settings) const override {
    wire::openai::ChatOptions options;
    options.temperature = settings.temperature;
    options.max_tokens = settings.max_tokens;
    options.stream = settings.stream;
    options.tool_choice = settings.tool_choice;
    return wire::openai::build_chat_request(request, options);
  }
  Expected<ModelResponse> parse(std::string_view body, const std::string& label, const ModelRequest&) const override {
    return wire::openai::parse_chat_response(body, label);
  }
  std::unique_ptr<StreamReader> stream_reader(const std::string& label, const ModelRequest&) const override {
    return std::make_unique<OpenAIStreamReader>(label);
  }
  ApiErrorInfo parse_error(int status, std::string_view body) const override {
    auto e = wire::openai::parse_error_body(status, body);
    return ApiErrorInfo{e.type, e.code, e.message};
  }
};

}  // namespace

std::shared_ptr<const Dialect> openai_dialect() {
  return std::make_shared<const OpenAIDialect>();
}

}  // namespace loomflow::providers
