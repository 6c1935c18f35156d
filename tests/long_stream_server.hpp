// LongStreamServer: an OpenAI-compatible chat endpoint on 127.0.0.1 whose every answer is a long
// stream of `deltas` chunks of `delta_bytes` text, generated as the socket takes them (never held in
// memory whole). Optionally holds each answer until release() — a model call that is "in flight"
// for as long as a test needs. Records how many requests arrived.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "loomflow/provider.hpp"
#include "loomflow/providers/dialects.hpp"
#include "loomflow/providers/http_model.hpp"

namespace loomflow::testing {

// The process's resident set in KiB (VmRSS), for the memory bounds of the streaming tests.
inline long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// An OpenAI-compatible endpoint on 127.0.0.1 whose one answer is a long stream of `deltas` chunks
// of `delta_bytes` text each, generated as the socket takes them (never held in memory whole).
class LongStreamServer {
 public:
  LongStreamServer(std::size_t deltas, std::size_t delta_bytes, bool hold = false)
      : deltas_(deltas), delta_bytes_(delta_bytes), hold_(hold) {
    server_.set_tcp_nodelay(true);
    // One request per connection: a kept-alive connection would hold stop() for the keep-alive timeout.
    server_.set_keep_alive_max_count(1);
    server_.Post("/v1/chat/completions", [this](const httplib::Request&, httplib::Response& res) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++requests_;
        cv_.notify_all();
        // Held answers wait for release(); the safety limit only keeps a broken test from hanging.
        cv_.wait_for(lock, std::chrono::seconds(60), [this] { return !hold_ || released_; });
      }
      res.set_chunked_content_provider("text/event-stream", [this](std::size_t, httplib::DataSink& sink) {
        for (std::size_t k = 0; k < deltas_; ++k) {
          nlohmann::json chunk = {{"id", "c"}, {"object", "chat.completion.chunk"}, {"model", "long"},
                                  {"choices", {{{"index", 0}, {"delta", {{"content", delta(k)}}}, {"finish_reason", nullptr}}}}};
          const std::string event = "data: " + chunk.dump() + "\n\n";
          if (!sink.write(event.data(), event.size())) return false;
          sent_ += event.size();
        }
        const std::string end =
            R"(data: {"id":"c","object":"chat.completion.chunk","model":"long","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
            "\n\ndata: [DONE]\n\n";
        sink.write(end.data(), end.size());
        sink.done();
        return true;
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~LongStreamServer() {
    release();
    server_.stop();
    thread_.join();
  }
  // Delta k: its number, padded to delta_bytes with a letter that changes with k.
  std::string delta(std::size_t k) const {
    std::string text = std::to_string(k) + ":";
    text.resize(delta_bytes_, static_cast<char>('a' + k % 26));
    return text;
  }
  Model model() const {
    providers::HttpModelOptions o;
    o.retry.max_attempts = 1;
    o.base_url = "http://127.0.0.1:" + std::to_string(port_) + "/v1";
    o.provider_name = "compat";
    return Model{std::make_shared<providers::HttpModelProvider>(std::make_shared<providers::http::HttpClient>(),
                                                                providers::openai_dialect(), o),
                 "long"};
  }
  std::size_t sent() const { return sent_.load(); }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  // Blocks until `n` requests arrived (or the safety limit passed); true when they did.
  bool wait_for_requests(std::size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return requests_ >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> guard(mutex_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::size_t deltas_;
  std::size_t delta_bytes_;
  bool hold_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t requests_ = 0;
  bool released_ = false;
  std::atomic<std::size_t> sent_{0};
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace loomflow::testing
