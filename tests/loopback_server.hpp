// LoopbackServer: a real HTTP server on 127.0.0.1 (cpp-httplib) that answers provider calls from a
// script of canned responses — recorded fixtures, errors, truncated streams — and records every
// request it got. Provider tests talk to it over real HTTP.
#pragma once

#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace loomflow::testing {


struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  bool sse = false;               // send `body` as a text/event-stream in one chunk
  std::size_t cut_after = 0;      // with sse: close the connection after this many bytes (0 = never)
  bool hold = false;              // wait until release() before answering (timeouts)

  // A recorded error fixture: {"status", "headers", "body"}.
  static CannedResponse from_error_fixture(const std::string& relative) {
    auto j = nlohmann::json::parse(read_fixture(relative));
    CannedResponse r;
    r.status = j["status"].get<int>();
    for (auto& [k, v] : j["headers"].items()) r.headers.emplace_back(k, v.get<std::string>());
    r.body = j["body"].is_string() ? j["body"].get<std::string>() : j["body"].dump();
    return r;
  }
};

struct RecordedRequest {
  std::string path;
  httplib::Headers headers;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class LoopbackServer {
 public:
  LoopbackServer() {
    server_.set_tcp_nodelay(true);
    // One request per connection: a kept-alive connection would hold stop() for the keep-alive timeout.
    server_.set_keep_alive_max_count(1);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); };
    server_.Post(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would leave it running forever: wait until it does.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~LoopbackServer() {
    release();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void push(CannedResponse response) {
    std::lock_guard<std::mutex> guard(mutex_);
    script_.push_back(std::move(response));
  }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return requests_;
  }
  // Answer 401 unless a request carries `key`, in either form the Anthropic API accepts:
  // `x-api-key: KEY` or `Authorization: Bearer KEY`.
  void require_key(std::string key) {
    std::lock_guard<std::mutex> guard(mutex_);
    required_key_ = std::move(key);
  }
  void release() {
    std::lock_guard<std::mutex> guard(mutex_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  void answer(const httplib::Request& req, httplib::Response& res) {
    CannedResponse canned;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      requests_.push_back(RecordedRequest{req.path, req.headers, req.body});
      if (!required_key_.empty() && req.get_header_value("x-api-key") != required_key_ &&
          req.get_header_value("authorization") != "Bearer " + required_key_) {
        res.status = 401;
        res.set_content(R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})",
                        "application/json");
        return;
      }
      if (script_.empty()) {
        res.status = 599;
        res.set_content(R"({"error":{"message":"unexpected request: the test script is empty","type":"test"}})",
                        "application/json");
        return;
      }
      canned = std::move(script_.front());
      script_.pop_front();
      if (canned.hold) cv_.wait(lock, [this] { return released_; });
    }
    res.status = canned.status;
    for (auto& [k, v] : canned.headers)
      if (k != "content-type" && k != "content-length") res.set_header(k, v);
    if (!canned.sse) {
      res.set_content(canned.body, canned.content_type);
      return;
    }
    auto body = std::make_shared<std::string>(canned.body);
    const std::size_t cut = canned.cut_after;
    res.set_chunked_content_provider("text/event-stream", [body, cut](std::size_t, httplib::DataSink& sink) {
      if (cut > 0) {
        sink.write(body->data(), std::min(cut, body->size()));
        return false;  // drop the connection mid-stream
      }
      sink.write(body->data(), body->size());
      sink.done();
      return true;
    });
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<CannedResponse> script_;
  std::vector<RecordedRequest> requests_;
  bool released_ = false;
  std::string required_key_;
};

}  // namespace loomflow::testing
