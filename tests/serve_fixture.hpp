// An in-process `loomflow serve`: a spec loaded into a Runtime, the App and its HTTP server on
// 127.0.0.1 (a free port), and a blocking libcurl client for requests. Alice and Bob have keys.
#pragma once

#include <curl/curl.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "loomflow/providers/builtin.hpp"
#include "loomflow/runtime.hpp"
#include "loomflow/serve/app.hpp"
#include "loomflow/serve/http/server.hpp"
#include "loomflow/tools/builtin.hpp"
#include "scratch.hpp"

namespace loomflow::testing {

inline const std::string kAliceKey = "sk-alice-0000000000000001";
inline const std::string kBobKey = "sk-bob-00000000000000002";

struct HttpReply {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// One blocking request. `headers` are "Name: value" lines.
inline HttpReply http_call(const std::string& method, const std::string& url, const std::string& body = {},
                           const std::vector<std::string>& headers = {}) {
  HttpReply reply;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
      (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
    }
    return size * n;
  });
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

inline std::vector<std::string> bearer(const std::string& key) {
  return {"Authorization: Bearer " + key, "Content-Type: application/json"};
}

// Parses an SSE body into (event, data) pairs.
inline std::vector<std::pair<std::string, std::string>> sse_events(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> events;
  std::string event, data;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      if (!data.empty() || !event.empty()) events.emplace_back(event, data);
      event.clear();
      data.clear();
    } else if (line.rfind("event: ", 0) == 0) {
      event = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      data = line.substr(6);
    }
  }
  return events;
}

inline SpecEnvironment serve_test_environment() {
  SpecEnvironment env;
  env.make_model = [](std::string_view model, const nlohmann::json& agent, const std::string& path) {
    return providers::builtin_model(model, agent, path);
  };
  env.functions = tools::builtin_functions();
  env.tools = tools::builtin_tools();
  return env;
}

class ServeFixture {
 public:
  explicit ServeFixture(const std::string& spec_json, serve::AppOptions options = {},
                        serve::http::ServerOptions server_options = {}, SpecEnvironment env = serve_test_environment())
      : runtime_(RuntimeConfig{2}) {
    const auto spec_path = dir_.path() / "spec.json";
    std::ofstream(spec_path) << spec_json;
    auto hosted = serve::load_hosted(spec_path.string(), env);
    if (!hosted) throw std::runtime_error(hosted.error().message);
    hosted_ = std::make_unique<serve::Hosted>(std::move(*hosted));
    auto keys = serve::ApiKeys::from_list(kAliceKey + "=alice," + kBobKey + "=bob", "test keys").value();
    app_ = std::make_unique<serve::App>(runtime_, *hosted_, std::move(keys), std::move(options));
    server_options.host = "127.0.0.1";
    server_options.port = 0;
    auto server = serve::http::Server::start(server_options, [this](serve::http::ExchangePtr e) { app_->handle(e); });
    if (!server) throw std::runtime_error(server.error().message);
    server_ = std::move(*server);
  }
  ~ServeFixture() { server_->shutdown(std::chrono::milliseconds(0)); }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server_->port()) + path; }
  std::uint16_t port() const { return server_->port(); }
  HttpReply get(const std::string& path, const std::string& key = kAliceKey) {
    return http_call("GET", url(path), {}, bearer(key));
  }
  HttpReply post(const std::string& path, const nlohmann::json& body, const std::string& key = kAliceKey) {
    return http_call("POST", url(path), body.dump(), bearer(key));
  }
  serve::App& app() { return *app_; }
  serve::http::Server& server() { return *server_; }
  Runtime& runtime() { return runtime_; }

 private:
  TempDir dir_{"loomflow-serve"};
  Runtime runtime_;
  std::unique_ptr<serve::Hosted> hosted_;
  std::unique_ptr<serve::App> app_;
  std::unique_ptr<serve::http::Server> server_;
};

// A spec hosting "chat" (an echo agent), "calc" (per-run scripted tool calls) and their workflow.
inline const char* kServeTestSpec = R"({
  "loomflow": 1,
  "name": "demo",
  "description": "Serve tests",
  "agents": {
    "chat": { "instructions": "Repeat.", "model": "echo" },
    "calc": {
      "model": "scripted",
      "script_mode": "per_run",
      "script": [
        { "text": "", "tool_calls": [{ "name": "word_count", "arguments": { "text": "one two three" } }] },
        { "text": "three words" }
      ],
      "tools": ["word_count"]
    }
  },
  "workflow": {
    "entry": "shout",
    "nodes": {
      "shout": { "type": "template", "template": "{input}!" },
      "answer": { "type": "agent", "agent": "chat" }
    },
    "edges": [{ "from": "shout", "to": "answer" }]
  }
})";

}  // namespace loomflow::testing
