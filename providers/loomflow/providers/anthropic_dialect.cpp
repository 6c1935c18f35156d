// The Anthropic Messages dialect (wire format in wire/anthropic_messages.hpp). The key goes in
// `x-api-key` with `anthropic-version: 2023-06-01`, the form the API documents; structured output
// is a strict tool the model must call.
#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/wire/anthropic_messages.hpp"

namespace loomflow::providers {

namespace {

class AnthropicStreamReader final : public StreamReader {
 public:
  AnthropicStreamReader(std::string label, bool structured) : accumulator_(std::move(label), structured) {}
  Expected<void> on_event(const wire::SseEvent& event) override { return accumulator_.on_event(event); }
  void set_text_sink(std::function<void(std::string_view)> sink) override { accumulator_.on_text = std::move(sink); }
  Expected<ModelResponse> finish() override { return accumulator_.finish(); }

 private:
  wire::anthropic::MessagesStreamAccumulator accumulator_;
};

bool wants_structured_output(const ModelRequest& request) { return !request.output_schema.empty(); }

class AnthropicDialect final : public Dialect {
 public:
  std::string_view api_name() const noexcept override { return "anthropic"; }
  std::string path() const override { return "/v1/messages"; }
  http::Headers headers(const std::string& api_key, bool stream) const override {
    http::Headers h{{"content-type", "application/json"},
                    {"accept", stream ? "text/event-stream" : "application/json"},
                    {"anthropic-version", "2023-06-01"}};
    if (!api_key.empty()) h.emplace_back("x-api-key", api_key);
    return h;
  }
  Expected<std::string> build(const ModelRequest& request, const CallSettings& settings) const override {
    wire::anthropic::MessagesOptions options;
    if (settings.max_tokens) options.max_tokens = *settings.max_tokens;
    options.temperature = settings.temperature;
    options.stream = settings.stream;
    options.tool_choice = settings.tool_choice == "required" ? "any" : settings.tool_choice;
    return wire::anthropic::build_messages_request(request, options);
  }
  Expected<ModelResponse> parse(std::string_view body, const std::string& label,
                                const ModelRequest& request) const override {
    return wire::anthropic::parse_messages_response(body, label, wants_structured_output(request));
  }
  std::unique_ptr<StreamReader> stream_reader(const std::string& label, const ModelRequest& request) const override {
    return std::make_unique<AnthropicStreamReader>(label, wants_structured_output(request));
  }
  ApiErrorInfo parse_error(int status, std::string_view body) const override {
    auto e = wire::anthropic::parse_error_body(status, body);
    return ApiErrorInfo{e.type, {}, e.message};
  }
};

}  // namespace

std::shared_ptr<const Dialect> anthropic_dialect() { return std::make_shared<const AnthropicDialect>(); }

}  // namespace loomflow::providers
