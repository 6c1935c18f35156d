// bench/workload_provider.cpp — P1: the overhead of an HTTP model provider per call, on loopback.
//
// An in-process cpp-httplib server on 127.0.0.1 (keep-alive, TCP_NODELAY) answers
// POST /v1/chat/completions at once with the recorded OpenAI fixtures of
// shared/fixtures/providers/openai/chat: nonstream-text.json, or stream-text.sse (34 events, each
// written as its own chunk, as a real server streams them) when the body asks for "stream": true.
// Both bodies are built in here, byte for byte the fixtures, so the bench needs no files.
//
// Measured, one call at a time:
// - HttpModelProvider (openai_dialect) called through Provider::start, non-stream and stream:
//   request build, the HTTP exchange on the client's I/O thread, response parse, the completion;
// - the same exchange from a bare libcurl easy handle (the floor any C++ client pays on loopback),
//   interleaved call by call with the provider's so both see the same machine state;
// - the wire codec alone, without HTTP: build_chat_request, parse_chat_response, and SseParser +
//   ChatStreamAccumulator over the stream fixture.
#include <curl/curl.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench.hpp"
#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/http/http_client.hpp"
#include "loomflow/providers/http_model.hpp"
#include "loomflow/providers/wire/openai_chat.hpp"
#include "loomflow/providers/wire/sse.hpp"

namespace loomflow::cli::bench {

namespace {

namespace wire = providers::wire;

constexpr int kCalls = 2000;        // per variant (non-stream, stream), provider and raw libcurl alike
constexpr int kWarmup = 100;        // the first calls of each variant, left out of the warm_ figures
constexpr int kCodecBatches = 200;  // codec timings: the median of kCodecBatches batch means
constexpr int kCodecBatch = 50;     // iterations per batch
constexpr const char* kModel = "gpt-4.1-mini";
constexpr const char* kLabel = "openai model 'gpt-4.1-mini'";

// shared/fixtures/providers/openai/chat/nonstream-text.json, verbatim.
constexpr const char* kNonStreamBody =
    R"({"id": "chatcmpl-ABfvaueLEMLNYbT8YzpJxsmiQ6HSY", "object": "chat.completion", "created": 1727346142, )"
    R"("model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": )"
    R"("I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I )"
    R"(recommend checking a reliable weather website or app like the Weather Channel or a local news station.", )"
    R"("refusal": null}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 14, )"
    R"("completion_tokens": 37, "total_tokens": 51, "completion_tokens_details": {"reasoning_tokens": 0}}, )"
    R"("system_fingerprint": "fp_b40fb1c6fb"})"
    "\n";
constexpr const char* kNonStreamText =
    "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend "
    "checking a reliable weather website or app like the Weather Channel or a local news station.";

// The text deltas of shared/fixtures/providers/openai/chat/stream-text.sse.
const std::vector<std::string>& stream_tokens() {
  static const std::vector<std::string> tokens = {
      "I'm",     " unable",   " to",       " provide", " real",     "-time",    " weather", " updates",
      ".",       " To",       " get",      " the",     " current",  " weather", " in",      " San",
      " Francisco", ",",      " I",        " recommend", " checking", " a",     " reliable", " weather",
      " website", " or",      " a",        " weather", " app",      "."};
  return tokens;
}

// shared/fixtures/providers/openai/chat/stream-text.sse, one string per event ("data: ...\n\n"):
// the role chunk, 30 content chunks, the finish chunk, the usage chunk and [DONE].
std::vector<std::string> stream_events() {
  const std::string chunk =
      R"({"id":"chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL","object":"chat.completion.chunk","created":1727346168,)"
      R"("model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":)";
  auto event = [](const std::string& data) { return "data: " + data + "\n\n"; };
  std::vector<std::string> events;
  events.push_back(event(chunk + R"([{"index":0,"delta":{"role":"assistant","content":"","refusal":null},)"
                                 R"("logprobs":null,"finish_reason":null}]})"));
  for (const auto& token : stream_tokens())
    events.push_back(event(chunk + R"([{"index":0,"delta":{"content":")" + token +
                           R"("},"logprobs":null,"finish_reason":null}]})"));
  events.push_back(event(chunk + R"([{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"));
  events.push_back(event(chunk + R"([],"usage":{"prompt_tokens":14,"completion_tokens":30,"total_tokens":44,)"
                                 R"("completion_tokens_details":{"reasoning_tokens":0}}})"));
  events.push_back(event("[DONE]"));
  return events;
}

std::string stream_text() {
  std::string text;
  for (const auto& token : stream_tokens()) text += token;
  return text;
}

// A small, typical request: instructions, one user message, one tool.
ModelRequest bench_request() {
  ModelRequest request;
  request.model = kModel;
  request.agent = "p1_agent";
  request.step_name = "p1_agent/model";
  request.call_id = "bench/p1";
  request.messages = Conversation{Message::system("You are a helpful assistant. Answer briefly."),
                                  Message::user("What's the weather like in San Francisco today?")};
  request.tools = {ToolSpec{"get_weather", "Current weather for a city.",
                            R"({"type":"object","properties":{"city":{"type":"string"},)"
                            R"("unit":{"type":"string","enum":["c","f"]}},"required":["city"]})"}};
  return request;
}

// The loopback server: answers every chat completion at once, keeps connections alive.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::vector<std::string> events) : events_(std::move(events)) {
    server_.set_tcp_nodelay(true);  // without it a small write on a kept-alive connection waits for the ACK
    server_.set_keep_alive_max_count(1'000'000);
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      if (req.body.find(R"("stream":true)") == std::string::npos &&
          req.body.find(R"("stream": true)") == std::string::npos) {
        // Not plain "application/json": httplib would compress that for a client accepting gzip/br,
        // which would time the server's compressor, not the provider.
        res.set_content(kNonStreamBody, "application/json; charset=utf-8");
        return;
      }
      res.set_chunked_content_provider("text/event-stream", [this](std::size_t, httplib::DataSink& sink) {
        for (const auto& e : events_)
          if (!sink.write(e.data(), e.size())) return false;
        sink.done();
        return true;
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();  // stop() before listen would never return
  }
  ~LoopbackServer() { stop(); }
  // Every client connection must be closed first, or stop() waits out the keep-alive timeout.
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  bool running() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::size_t requests() const { return requests_.load(); }

 private:
  httplib::Server server_;
  std::vector<std::string> events_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<std::size_t> requests_{0};
};

// The floor: one libcurl easy handle, reused (so its connection is kept alive), with the headers
// and options HttpClient sets, posting a prepared body and collecting the response.
class RawCurl {
 public:
  RawCurl(const std::string& url, bool stream) {
    easy_ = curl_easy_init();
    headers_ = curl_slist_append(headers_, "content-type: application/json");
    headers_ = curl_slist_append(headers_, stream ? "accept: text/event-stream" : "accept: application/json");
    headers_ = curl_slist_append(headers_, "authorization: Bearer sk-bench");
    headers_ = curl_slist_append(headers_, "Expect:");
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &body_);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
  }
  ~RawCurl() {
    curl_easy_cleanup(easy_);  // closes the kept-alive connection
    curl_slist_free_all(headers_);
  }
  RawCurl(const RawCurl&) = delete;
  RawCurl& operator=(const RawCurl&) = delete;

  // Posts `request_body` (which must outlive the call); the response body, or empty on failure.
  bool post(const std::string& request_body) {
    body_.clear();
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, request_body.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(request_body.size()));
    if (curl_easy_perform(easy_) != CURLE_OK) return false;
    long status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
    return status == 200;
  }
  const std::string& body() const { return body_; }

 private:
  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  }
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

// One provider call, waited for.
Expected<ModelResponse> call(Provider& provider, const ModelRequest& request) {
  std::promise<Expected<ModelResponse>> promise;
  auto future = promise.get_future();
  provider.start(request, [&promise](Expected<ModelResponse> outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

double us_since(Clock::time_point from) {
  return std::chrono::duration<double, std::micro>(Clock::now() - from).count();
}

std::vector<double> after_warmup(const std::vector<double>& values) {
  return std::vector<double>(values.begin() + std::min<std::size_t>(kWarmup, values.size()), values.end());
}

// The median of (a[i] - b[i]) after warm-up: calls i of a and b ran back to back, so a load spike
// hits both sides of most pairs; steadier than the difference of two medians on a busy machine.
double paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (std::size_t i = kWarmup; i < std::min(a.size(), b.size()); ++i) d.push_back(a[i] - b[i]);
  return median(std::move(d));
}

// Microseconds per iteration of `body`: the median of kCodecBatches batch means. Batches keep the
// clock's own cost out of sub-microsecond figures. `body` returns false when its result was wrong.
template <class F>
double codec_us(F&& body, bool& ok) {
  std::vector<double> batches;
  batches.reserve(kCodecBatches);
  for (int b = 0; b < kCodecBatches; ++b) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kCodecBatch; ++i) ok = body() && ok;
    batches.push_back(us_since(t0) / kCodecBatch);
  }
  return median(std::move(batches));
}

// Empty when `outcome` is the fixture's answer.
std::string check_response(const Expected<ModelResponse>& outcome, const std::string& text,
                           std::int64_t output_tokens) {
  if (!outcome) return outcome.error().describe();
  if (outcome->message.content != text) return "answer text is '" + outcome->message.content + "'";
  if (outcome->finish_reason != "stop") return "finish_reason is '" + outcome->finish_reason + "'";
  if (static_cast<std::int64_t>(outcome->usage.output_tokens) != output_tokens)
    return "output_tokens is " + std::to_string(outcome->usage.output_tokens);
  return {};
}

struct Figures {
  std::vector<double> provider_us, raw_us;  // per call, in call order
  double provider_cpu_ms = 0, raw_cpu_ms = 0;  // process CPU (client and server threads) over all calls
};

}  // namespace

Json run_p1(const BenchArgs&) {  // one I/O thread whatever --threads says
  const auto started = Clock::now();
  const double cpu_started = process_cpu_ms();
  const std::vector<std::string> events = stream_events();
  std::string sse_bytes;
  for (const auto& e : events) sse_bytes += e;
  const std::string streamed_text = stream_text();
  const ModelRequest request = bench_request();

  // --- The codec alone. ---
  bool codec_ok = true;
  wire::openai::ChatOptions plain;
  const double build_us =
      codec_us([&] { return wire::openai::build_chat_request(request, plain).has_value(); }, codec_ok);
  const double parse_us = codec_us(
      [&] {
        auto r = wire::openai::parse_chat_response(kNonStreamBody, kLabel);
        return r && r->message.content == kNonStreamText;
      },
      codec_ok);
  // Fed event by event, as the server writes them (the provider feeds each chunk libcurl hands it).
  const double stream_parse_us = codec_us(
      [&] {
        wire::SseParser parser;
        wire::openai::ChatStreamAccumulator accumulator(kLabel);
        for (const auto& bytes : events) {
          std::vector<wire::SseEvent> parsed;
          parser.feed(bytes, parsed);
          for (const auto& e : parsed)
            if (!accumulator.on_event(e)) return false;
        }
        auto r = accumulator.finish(true);
        return r && r->message.content == streamed_text;
      },
      codec_ok);
  if (!codec_ok) return error_line("P1", "the wire codec did not reproduce the fixtures' answers");
  {  // The SSE event count as the provider sees it.
    wire::SseParser parser;
    std::vector<wire::SseEvent> parsed;
    parser.feed(sse_bytes, parsed);
    if (parsed.size() != events.size()) return error_line("P1", "the SSE fixture does not parse into its events");
  }
  const auto n_events = static_cast<double>(events.size());

  wire::openai::ChatOptions streaming;
  streaming.stream = true;
  auto plain_body = wire::openai::build_chat_request(request, plain);
  auto stream_body = wire::openai::build_chat_request(request, streaming);
  if (!plain_body || !stream_body) return error_line("P1", "building the request failed");

  // --- Over HTTP. The server outlives every client: they close their connections first. ---
  Sample setup;
  Figures plain_calls, stream_calls;
  double first_call_us = 0;
  std::string problem;
  std::size_t requests = 0;
  double teardown_ms = 0;
  std::string server_url;
  {
    std::unique_ptr<LoopbackServer> server;
    std::shared_ptr<providers::http::HttpClient> client;
    std::shared_ptr<Provider> plain_provider, stream_provider;
    setup = measure([&] {
      server = std::make_unique<LoopbackServer>(events);
      if (!server->running()) return;
      client = std::make_shared<providers::http::HttpClient>();  // also runs curl_global_init
      providers::HttpModelOptions options;
      options.base_url = server->url() + "/v1";
      options.api_key = "sk-bench";
      options.provider_name = "openai";
      plain_provider = std::make_shared<providers::HttpModelProvider>(client, providers::openai_dialect(), options);
      options.call.stream = true;
      stream_provider = std::make_shared<providers::HttpModelProvider>(client, providers::openai_dialect(), options);
    });
    if (!server->running()) return error_line("P1", "the loopback server could not bind 127.0.0.1");
    server_url = server->url();
    {
      RawCurl raw_plain(server_url + "/v1/chat/completions", false);
      RawCurl raw_stream(server_url + "/v1/chat/completions", true);

      // Provider and raw calls alternate, so drift (frequency, other load) hits both alike.
      auto run = [&](Provider& provider, RawCurl& raw, const std::string& raw_body, const std::string& text,
                     std::int64_t output_tokens, Figures& out) {
        out.provider_us.reserve(kCalls);
        out.raw_us.reserve(kCalls);
        for (int i = 0; i < kCalls && problem.empty(); ++i) {
          double cpu0 = process_cpu_ms();
          auto t0 = Clock::now();
          auto outcome = call(provider, request);
          out.provider_us.push_back(us_since(t0));
          out.provider_cpu_ms += process_cpu_ms() - cpu0;
          if (auto p = check_response(outcome, text, output_tokens); !p.empty()) problem = "provider call: " + p;

          cpu0 = process_cpu_ms();
          t0 = Clock::now();
          const bool ok = raw.post(raw_body);
          out.raw_us.push_back(us_since(t0));
          out.raw_cpu_ms += process_cpu_ms() - cpu0;
          if (!ok || raw.body().empty()) problem = "raw libcurl call failed";
        }
      };
      run(*plain_provider, raw_plain, *plain_body, kNonStreamText, 37, plain_calls);
      if (problem.empty()) run(*stream_provider, raw_stream, *stream_body, streamed_text, 30, stream_calls);
      if (!plain_calls.provider_us.empty()) first_call_us = plain_calls.provider_us.front();
    }  // the raw handles close their connections
    plain_provider.reset();
    stream_provider.reset();
    client.reset();  // joins the I/O thread; closes the kept-alive connection
    requests = server->requests();
    teardown_ms = measure([&] { server->stop(); }).wall_ms;
  }
  if (!problem.empty()) return error_line("P1", "verification failed: " + problem);
  if (requests != 4u * kCalls)
    return error_line("P1", "the server saw " + std::to_string(requests) + " requests, expected " +
                                std::to_string(4 * kCalls));
  const double total_ms = ms_between(started, Clock::now());
  const double cpu_ms = process_cpu_ms() - cpu_started;

  const double us_per_call = median(plain_calls.provider_us);
  const double warm_us_per_call = median(after_warmup(plain_calls.provider_us));
  const double stream_us_per_call = median(stream_calls.provider_us);
  const double warm_stream_us_per_call = median(after_warmup(stream_calls.provider_us));
  const double raw_us = median(plain_calls.raw_us);
  const double warm_raw_us = median(after_warmup(plain_calls.raw_us));
  const double raw_stream_us = median(stream_calls.raw_us);
  const double warm_raw_stream_us = median(after_warmup(stream_calls.raw_us));

  Json line = header("P1", "openai-http-loopback",
                     Json{{"calls", kCalls},
                          {"warmup_calls", kWarmup},
                          {"stream_events", events.size()},
                          {"codec_iterations", kCodecBatches * kCodecBatch},
                          {"server", "cpp-httplib " CPPHTTPLIB_VERSION " on 127.0.0.1, keep-alive, tcp_nodelay"},
                          {"libcurl", curl_version_info(CURLVERSION_NOW)->version}},
                     1);  // the HttpClient's one I/O thread
  line["build_compile_ms"] = round3(setup.wall_ms);
  line["total_ms"] = round3(total_ms);
  line["cpu_ms"] = round3(cpu_ms);
  line["us_per_call"] = round3(us_per_call);
  line["warm_us_per_call"] = round3(warm_us_per_call);
  line["first_call_us"] = round3(first_call_us);
  line["p99_us"] = round3(percentile(after_warmup(plain_calls.provider_us), 0.99));
  line["stream_us_per_call"] = round3(stream_us_per_call);
  line["warm_stream_us_per_call"] = round3(warm_stream_us_per_call);
  line["stream_p99_us"] = round3(percentile(after_warmup(stream_calls.provider_us), 0.99));
  line["stream_events"] = events.size();
  line["us_per_streamed_event"] = round3((stream_us_per_call - us_per_call) / n_events);
  line["warm_us_per_streamed_event"] = round3((warm_stream_us_per_call - warm_us_per_call) / n_events);
  line["raw_curl_us_per_call"] = round3(raw_us);
  line["warm_raw_curl_us_per_call"] = round3(warm_raw_us);
  line["raw_curl_p99_us"] = round3(percentile(after_warmup(plain_calls.raw_us), 0.99));
  line["raw_curl_stream_us_per_call"] = round3(raw_stream_us);
  line["warm_raw_curl_stream_us_per_call"] = round3(warm_raw_stream_us);
  line["overhead_us_per_call"] = round3(us_per_call - raw_us);
  line["warm_overhead_us_per_call"] = round3(warm_us_per_call - warm_raw_us);
  line["stream_overhead_us_per_call"] = round3(stream_us_per_call - raw_stream_us);
  line["warm_stream_overhead_us_per_call"] = round3(warm_stream_us_per_call - warm_raw_stream_us);
  line["paired_overhead_us_per_call"] = round3(paired_difference(plain_calls.provider_us, plain_calls.raw_us));
  line["paired_stream_overhead_us_per_call"] =
      round3(paired_difference(stream_calls.provider_us, stream_calls.raw_us));
  line["cpu_us_per_call"] = round3(plain_calls.provider_cpu_ms * 1000.0 / kCalls);
  line["raw_curl_cpu_us_per_call"] = round3(plain_calls.raw_cpu_ms * 1000.0 / kCalls);
  line["stream_cpu_us_per_call"] = round3(stream_calls.provider_cpu_ms * 1000.0 / kCalls);
  line["raw_curl_stream_cpu_us_per_call"] = round3(stream_calls.raw_cpu_ms * 1000.0 / kCalls);
  line["build_us"] = round3(build_us);
  line["parse_us"] = round3(parse_us);
  line["stream_parse_us"] = round3(stream_parse_us);
  line["stream_parse_us_per_event"] = round3(stream_parse_us / n_events);
  line["server_stop_ms"] = round3(teardown_ms);
  line["target"] = "report";
  line["target_met"] = true;
  line["note"] =
      "no target: figures to report. total_ms / cpu_ms: the whole workload. Sequential calls to an in-process "
      "cpp-httplib server on 127.0.0.1 (keep-alive, tcp_nodelay) answering at once with the recorded OpenAI fixtures "
      "nonstream-text.json and stream-text.sse (34 events, one chunk each). us_per_call / stream_us_per_call: median "
      "wall time of HttpModelProvider::start (openai dialect) until its completion, non-stream / stream, over all "
      "calls; warm_*: without the first 100 calls; p99_us / stream_p99_us: after warm-up; first_call_us includes the "
      "TCP connect. raw_curl_*: the same POST from a bare reused libcurl easy handle, interleaved call by call with "
      "the provider's: the floor of any client on loopback, server included. overhead_us_per_call = us_per_call - "
      "raw_curl_us_per_call: what the provider adds (build, parse, its I/O thread and the hand-offs to and from it); "
      "paired_*: the median of the per-pair differences after warm-up, steadier under outside load. Each provider "
      "call hands off to the HttpClient's I/O thread and back: when those threads land on idle cores (a quiet "
      "multi-core VM) the two wake-ups are most of the overhead; on a busy or single core they are cheap context "
      "switches. us_per_streamed_event = (stream_us_per_call - us_per_call) / stream_events: the added latency per "
      "streamed token, transport included. *_cpu_us_per_call: process CPU per call, server threads included. build_us"
      " / parse_us / stream_parse_us(_per_event): the wire codec alone, no HTTP (build_chat_request, "
      "parse_chat_response, SseParser + ChatStreamAccumulator fed event by event). Non-stream responses are sent "
      "uncompressed (the server would otherwise time its own compressor).";
  return line;
}

}  // namespace loomflow::cli::bench
