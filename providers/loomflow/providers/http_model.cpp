#include "loomflow/providers/http_model.hpp"

#include <atomic>
#include <random>

namespace loomflow::providers {

namespace {

// The run's text sink holds the HTTP transfer back while the consumer is behind.
class SinkGate final : public http::FlowGate {
 public:
  explicit SinkGate(std::shared_ptr<TextSink> sink) : sink_(std::move(sink)) {}
  bool closed() override { return sink_->congested(); }
  void when_open(std::function<void()> resume) override { sink_->when_ready(std::move(resume)); }

 private:
  std::shared_ptr<TextSink> sink_;
};

}  // namespace

struct HttpModelProvider::Call {
  ModelRequest request;
  std::string label;  // e.g. "openai model 'gpt-4.1-mini'", opening every error
  std::string body;
  Completion done;
  bool streamed = false;  // over SSE: the provider streams every call, or someone streams this run
  int attempts = 0;
  std::atomic<http::HttpClient::CallId> http_call{0};  // the current attempt's transfer
  std::atomic<bool> cancelled{false};
  // Streaming state of the current attempt.
  wire::SseParser parser;
  std::unique_ptr<StreamReader> stream;
  std::optional<Error> stream_error;
  bool received = false;  // stream bytes arrived in this attempt
};

HttpModelProvider::HttpModelProvider(std::shared_ptr<http::HttpClient> client, std::shared_ptr<const Dialect> dialect,
                                     HttpModelOptions options)
    : client_(std::move(client)), dialect_(std::move(dialect)), options_(std::move(options)) {
  if (options_.retry.max_attempts < 1) options_.retry.max_attempts = 1;
  if (options_.provider_name.empty()) options_.provider_name = std::string(dialect_->api_name());
}

void HttpModelProvider::start(ModelRequest request, Completion done) {
  auto call = std::make_shared<Call>();
  call->label = options_.provider_name + " model '" + request.model + "'";
  CallSettings settings = options_.call;
  settings.stream = settings.stream || request.text_sink != nullptr;
  call->streamed = settings.stream;
  auto body = dialect_->build(request, settings);
  if (!body) {
    done(Error{body.error().code, call->label + ": " + body.error().message});
    return;
  }
  call->body = std::move(*body);
  call->request = std::move(request);
  call->done = std::move(done);
  if (!call->request.call_id.empty()) {
    std::lock_guard<std::mutex> guard(calls_mutex_);
    calls_[call->request.call_id] = call;
  }
  attempt(std::move(call));
}

void HttpModelProvider::cancel(const std::string& call_id) {
  std::shared_ptr<Call> call;
  {
    std::lock_guard<std::mutex> guard(calls_mutex_);
    if (auto it = calls_.find(call_id); it != calls_.end()) call = it->second;
  }
  if (!call) return;
  call->cancelled = true;  // no further attempt starts
  client_->cancel(call->http_call.load());
}

std::size_t HttpModelProvider::in_flight() const {
  std::lock_guard<std::mutex> guard(calls_mutex_);
  return calls_.size();
}

void HttpModelProvider::complete(const std::shared_ptr<Call>& call, Expected<ModelResponse> outcome) {
  if (outcome && options_.prices)
    if (auto price = find_price(*options_.prices, call->request.model))
      outcome->usage.cost_usd = cost_usd(*price, outcome->usage);
  if (!call->request.call_id.empty()) {
    std::lock_guard<std::mutex> guard(calls_mutex_);
    calls_.erase(call->request.call_id);
  }
  call->done(std::move(outcome));
}

void HttpModelProvider::attempt(std::shared_ptr<Call> call) {
  if (call->cancelled) {  // cancelled while waiting to retry
    complete(call, Error{ErrorCode::cancelled, call->label + ": the call was cancelled"});
    return;
  }
  ++call->attempts;
  http::HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + dialect_->path();
  req.body = call->body;
  req.headers = dialect_->headers(options_.api_key, call->streamed);
  for (const auto& h : options_.extra_headers) req.headers.push_back(h);
  req.connect_timeout = options_.connect_timeout;
  req.total_timeout = options_.total_timeout;
  req.idle_timeout = options_.idle_timeout;

  http::HttpClient::OnData on_data;
  if (call->streamed) {
    call->parser = wire::SseParser{};
    call->stream = dialect_->stream_reader(call->label, call->request);
    auto& sink = call->request.text_sink;
    if (sink && options_.on_text) {
      call->stream->set_text_sink([sink, also = options_.on_text](std::string_view delta) {
        sink->on_text(delta);
        also(delta);
      });
    } else if (sink) {
      call->stream->set_text_sink([sink](std::string_view delta) { sink->on_text(delta); });
    } else if (options_.on_text) {
      call->stream->set_text_sink(options_.on_text);
    }
    if (sink) req.gate = std::make_shared<SinkGate>(sink);
    call->stream_error.reset();
    call->received = false;
    on_data = [call](std::string_view bytes) {
      call->received = true;
      std::vector<wire::SseEvent> events;
      call->parser.feed(bytes, events);
      for (const auto& event : events) {
        if (auto ok = call->stream->on_event(event); !ok) {
          call->stream_error = ok.error();
          return false;  // stop reading: the stream is unusable
        }
      }
      return true;
    };
  }
  call->http_call = client_->send(std::move(req), std::move(on_data),
                                  [self = shared_from_this(), call](Expected<http::HttpResponse> outcome) {
                                    self->settle(call, std::move(outcome));
                                  });
  // A cancel that raced with this attempt's start would have hit the previous transfer.
  if (call->cancelled) client_->cancel(call->http_call.load());
}

void HttpModelProvider::settle(std::shared_ptr<Call> call, Expected<http::HttpResponse> outcome) {
  auto retry_or_fail = [&](const http::HttpResponse* response, Error error) {
    if (call->attempts < options_.retry.max_attempts) {
      thread_local std::mt19937 rng{std::random_device{}()};
      const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      const auto delay = http::retry_delay(response, call->attempts, options_.retry, jitter);
      client_->after(delay, [self = shared_from_this(), call] { self->attempt(call); });
      return;
    }
    if (call->attempts > 1) error.message += " (after " + std::to_string(call->attempts) + " attempts)";
    complete(call, std::move(error));
  };

  if (call->cancelled) {
    complete(call, Error{ErrorCode::cancelled, call->label + ": the call was cancelled"});
    return;
  }
  if (call->stream_error) {  // the body arrived but could not be read: repeating would not help
    complete(call, *call->stream_error);
    return;
  }
  if (!outcome) {
    Error error{outcome.error().code, call->label + ": " + outcome.error().message};
    if (call->received) {  // cut off mid-stream: not retried, part of it may have been consumed
      complete(call, Error{ErrorCode::unavailable, call->label + ": truncated stream: " + outcome.error().message});
      return;
    }
    if (error.code == ErrorCode::unavailable)
      retry_or_fail(nullptr, std::move(error));
    else
      complete(call, std::move(error));
    return;
  }
  const http::HttpResponse& response = *outcome;
  if (response.status < 200 || response.status >= 300) {
    const auto api = dialect_->parse_error(response.status, response.body);
    std::string message = call->label + ": HTTP " + std::to_string(response.status);
    if (!api.type.empty()) message += " " + api.type;
    if (!api.code.empty()) message += " (" + api.code + ")";
    if (!api.message.empty()) message += ": " + api.message;
    if (http::is_retryable(response))
      retry_or_fail(&response, Error{ErrorCode::unavailable, std::move(message)});
    else
      complete(call, Error{ErrorCode::model_error, std::move(message)});
    return;
  }
  if (!call->streamed) {
    complete(call, dialect_->parse(response.body, call->label, call->request));
    return;
  }
  // A stream cut short is not retried: part of it may already have reached a consumer.
  if (!call->parser.at_boundary()) {
    complete(call, Error{ErrorCode::unavailable, call->label + ": truncated stream: the body ended mid-event"});
    return;
  }
  complete(call, call->stream->finish());
}

}  // namespace loomflow::providers
