// `loomflow serve` as a real process: the CLI binary started on 127.0.0.1 (a free port, read back
// from its "listening on" line), talked to over HTTP — by libcurl, and by the official OpenAI Node
// client (tests/openai, installed with `npm ci --prefix tests/openai`) — and stopped with SIGTERM.
//
// ServeCli: API keys and tenants, bad requests, refusing to start, graceful shutdown. Runs that must
// still be going when SIGTERM arrives use an agent whose model is an OpenAI-compatible endpoint the
// test controls (HeldModel): it answers only once the test releases it, so "a run in flight" is a
// state the test waits for, never a race it hopes to win.
// OpenAiClient: tests/openai/chat_client.mjs drives the official `openai` package against the
// server. Without node or the package the suite skips, unless LOOMFLOW_REQUIRE_OPENAI_CLIENT=1.
//
// Nothing here sleeps to synchronise: tests wait on the listening line, on HTTP answers, on the
// model server having received a request, and on process exit, each with a generous safety timeout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "loomflow/providers/builtin.hpp"
#include "scratch.hpp"
#include "child_process.hpp"
#include "serve_fixture.hpp"

namespace {

using loomflow::testing::bearer;
using loomflow::testing::Child;
using loomflow::testing::child_environment;
using loomflow::testing::ExitStatus;
using loomflow::testing::kIsolatedEnvironment;
using loomflow::testing::http_call;
using loomflow::testing::HttpReply;
using loomflow::testing::kAliceKey;
using loomflow::testing::kBobKey;
using loomflow::testing::sse_events;
using loomflow::testing::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

// Safety limits only: every wait ends as soon as what it waits for happens.
constexpr auto kStartTimeout = 20s;
constexpr auto kExitTimeout = 30s;


// Runs the loomflow CLI to completion.
struct CliResult {
  ExitStatus exit;
  std::string out, err;
};
CliResult run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LOOMFLOW_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  Child child(argv, child_environment(kIsolatedEnvironment, {}));
  auto exit = child.wait_exit(kExitTimeout);
  EXPECT_TRUE(exit.has_value()) << "loomflow " << args.front() << " did not exit within the safety timeout";
  return {exit.value_or(ExitStatus{}), child.out(), child.err()};
}

// ---- loomflow serve -------------------------------------------------------------------------------

// `loomflow serve --spec SPEC --listen 127.0.0.1:0 --keys (alice, bob) EXTRA...` for the lifetime of
// the object; the destructor sends SIGTERM and waits (SIGKILL after a safety timeout).
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& spec, std::vector<std::string> extra = {}) {
    const auto keys = dir_.path() / "keys";
    std::ofstream(keys) << "# test tenants\n" << kAliceKey << " alice\n" << kBobKey << " bob\n";
    std::vector<std::string> argv = {LOOMFLOW_CLI, "serve", "--spec", spec, "--listen", "127.0.0.1:0",
                                     "--keys", keys.string(), "--threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ = std::make_unique<Child>(argv, child_environment(kIsolatedEnvironment, {}));
    static const std::string kListening = "loomflow serve: listening on http://127.0.0.1:";
    if (!child_->wait_for_stderr(kListening, kStartTimeout)) return;
    // The line is written whole (std::endl): wait for its end, then read the port.
    child_->wait_for_stderr(")\n", kStartTimeout);
    const auto err = child_->err();
    port_ = std::atoi(err.c_str() + err.find(kListening) + kListening.size());
  }
  ~ServeProcess() { child_->stop(SIGTERM, kExitTimeout); }

  // True once it printed its listening line (false: it failed to start; see err()).
  bool listening() const { return port_ > 0; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  Child& process() { return *child_; }
  std::string err() const { return child_->err(); }

  HttpReply get(const std::string& path, const std::string& key = kAliceKey) const {
    return http_call("GET", url(path), {}, bearer(key));
  }
  HttpReply post(const std::string& path, const json& body, const std::string& key = kAliceKey) const {
    return http_call("POST", url(path), body.dump(), bearer(key));
  }

 private:
  TempDir dir_{"loomflow-serve-cli"};
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

#define ASSERT_LISTENING(serve) ASSERT_TRUE((serve).listening()) << "loomflow serve did not start:\n" << (serve).err()

// A spec file in a fresh directory.
class SpecFile {
 public:
  explicit SpecFile(const std::string& text, const std::string& name = "spec.json") : path_(dir_.path() / name) {
    std::ofstream(path_) << text;
  }
  std::string path() const { return path_.string(); }
  std::string dir() const { return dir_.path().string(); }

 private:
  TempDir dir_{"loomflow-serve-spec"};
  std::filesystem::path path_;
};

// "demo/chat" echoes; the workflow "demo" adds "!" to its input and hands it to chat.
const char* kDemoSpec = R"({
  "loomflow": 1,
  "name": "demo",
  "description": "serve CLI tests",
  "agents": {
    "chat": { "instructions": "Repeat.", "model": "echo" },
    "helper": { "instructions": "Help.\nSecond line.", "model": "echo" }
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

// "tools/calc": a per-run scripted agent that calls word_count, then answers.
const char* kScriptedSpec = R"({
  "loomflow": 1,
  "name": "tools",
  "agents": {
    "calc": {
      "instructions": "Count.",
      "model": "scripted",
      "script_mode": "per_run",
      "script": [
        { "text": "", "tool_calls": [{ "name": "word_count", "arguments": { "text": "one two three" } }] },
        { "text": "three words" }
      ],
      "tools": ["word_count"]
    }
  },
  "workflow": { "entry": "count", "nodes": { "count": { "type": "agent", "agent": "calc" } } }
})";

// ---- A model endpoint the test holds ---------------------------------------------------------------

// An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that records each request and answers it
// with `answer` only once release() was called (or the object goes).
class HeldModel {
 public:
  explicit HeldModel(std::string answer) : answer_(std::move(answer)) {
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(1);  // a kept-alive connection would hold stop()
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++received_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return released_; });
      }
      const auto request = json::parse(req.body, nullptr, false);
      const bool stream = request.is_object() && request.value("stream", false);
      if (!stream) {
        json body = {{"id", "chatcmpl-held"}, {"object", "chat.completion"}, {"created", 0}, {"model", "holdmodel"},
                     {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", answer_}}},
                                   {"finish_reason", "stop"}}}},
                     {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}}};
        res.set_content(body.dump(), "application/json");
        return;
      }
      json chunk = {{"id", "chatcmpl-held"}, {"object", "chat.completion.chunk"}, {"model", "holdmodel"},
                    {"choices", {{{"index", 0}, {"delta", {{"content", answer_}}}, {"finish_reason", nullptr}}}}};
      res.set_content("data: " + chunk.dump() +
                          "\n\ndata: "
                          R"({"id":"chatcmpl-held","object":"chat.completion.chunk","model":"holdmodel","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
                          "\n\ndata: [DONE]\n\n",
                      "text/event-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();  // stop() must not come before listen
  }
  ~HeldModel() {
    release();
    server_.stop();
    thread_.join();
  }

  // True once `n` requests arrived (each now waiting for release()).
  bool wait_for_requests(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return received_ >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> guard(mutex_);
    released_ = true;
    cv_.notify_all();
  }

  // A spec named "slow" whose agent "held" (and workflow "slow") use this endpoint.
  std::string spec() const {
    return R"({"loomflow": 1, "name": "slow", "agents": {"held": {"instructions": "Wait.", "model": "compat:holdmodel",
      "model_settings": {"base_url": "http://127.0.0.1:)" +
           std::to_string(port_) + R"(/v1", "max_attempts": 1}}},
      "workflow": {"entry": "answer", "nodes": {"answer": {"type": "agent", "agent": "held"}}}})";
  }

 private:
  const std::string answer_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int received_ = 0;
  bool released_ = false;
};

// ---- HTTP helpers -----------------------------------------------------------------------------------

// Requests over one kept-alive connection (made by the first request): after SIGTERM the server
// accepts no new connection, but answers on the ones it has.
class KeepAliveClient {
 public:
  KeepAliveClient() : curl_(curl_easy_init()) {}
  ~KeepAliveClient() { curl_easy_cleanup(curl_); }
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  struct Reply {
    long status = 0;
    std::string body;
    long new_connections = 0;  // 0: it went over the connection already open
    json json_body() const { return json::parse(body, nullptr, false); }
  };
  Reply call(const std::string& method, const std::string& url, const std::string& body = {}) {
    Reply reply;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("Authorization: Bearer " + kAliceKey).c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    if (method == "POST") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(curl_, CURLOPT_COPYPOSTFIELDS, body.c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
      static_cast<std::string*>(out)->append(data, size * n);
      return size * n;
    });
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    if (curl_easy_perform(curl_) == CURLE_OK) {
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
      curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &reply.new_connections);
    }
    curl_slist_free_all(headers);
    return reply;
  }

 private:
  CURL* curl_;
};

// The last event of an SSE body and its JSON data.
std::pair<std::string, json> last_event(const std::string& body) {
  auto events = sse_events(body);
  if (events.empty()) return {"", json()};
  return {events.back().first, json::parse(events.back().second, nullptr, false)};
}

std::set<std::string> run_ids(const HttpReply& list) {
  std::set<std::string> ids;
  const auto body = list.json();
  if (body.is_object() && body.contains("data"))
    for (const auto& run : body["data"]) ids.insert(run.value("id", ""));
  return ids;
}

// ---- The official OpenAI client -------------------------------------------------------------------

std::string openai_dir() { return std::string(LOOMFLOW_SOURCE_DIR) + "/tests/openai"; }

// node's absolute path on PATH, or empty.
std::string find_node() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    const std::string candidate = dirs.substr(start, colon - start) + "/node";
    if (colon > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  return "";
}

// Empty when the client can run; otherwise why not.
std::string openai_client_missing() {
  if (!std::filesystem::exists(openai_dir() + "/node_modules/openai/package.json"))
    return "the official OpenAI client is not installed: run `npm ci --prefix tests/openai`";
  if (find_node().empty()) return "node is not on PATH (the OpenAI client tests need node >= 20)";
  return "";
}

bool openai_client_required() {
  const char* v = std::getenv("LOOMFLOW_REQUIRE_OPENAI_CLIENT");
  return v != nullptr && std::string(v) == "1";
}

#define LOOMFLOW_REQUIRE_OPENAI_CLIENT()                   \
  do {                                                     \
    if (auto why = openai_client_missing(); !why.empty()) { \
      if (openai_client_required()) FAIL() << why;         \
      GTEST_SKIP() << why;                                 \
    }                                                      \
  } while (0)

// Runs chat_client.mjs MODE MODEL MESSAGE against `serve` with `key`; its one JSON line.
json openai_client(const ServeProcess& serve, const std::string& mode, const std::string& model = "",
                   const std::string& message = "", const std::string& key = kAliceKey) {
  Child node({find_node(), openai_dir() + "/chat_client.mjs", mode, model, message},
             child_environment(kIsolatedEnvironment,
                               {"LOOMFLOW_BASE_URL=" + serve.url("/v1"), "LOOMFLOW_API_KEY=" + key}));
  auto exit = node.wait_exit(kExitTimeout);
  EXPECT_TRUE(exit.has_value()) << "chat_client.mjs did not exit within the safety timeout";
  EXPECT_EQ(exit.value_or(ExitStatus{}).code, 0) << node.err();
  auto out = json::parse(node.out(), nullptr, false);
  EXPECT_TRUE(out.is_object()) << "chat_client.mjs printed: " << node.out() << "\nstderr: " << node.err();
  return out.is_object() ? out : json::object();
}

// The echo model's token count for one message (builtin.hpp: ceil(bytes / 4), plus one per message).
std::uint64_t message_tokens(const std::string& text) { return loomflow::providers::approximate_tokens(text) + 1; }

// ================================================================================================
// ServeCli
// ================================================================================================

TEST(ServeCli, RequestsWithoutAValidApiKeyGetA401JsonError) {
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);

  auto none = http_call("GET", serve.url("/v1/models"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["content-type"], "application/json");
  EXPECT_EQ(none.json()["error"]["type"], "authentication_error") << none.body;
  EXPECT_EQ(none.json()["error"]["code"], "missing_api_key") << none.body;

  auto wrong = serve.post("/v1/runs", {{"target", "demo/chat"}, {"input", "hi"}}, "sk-nobody-000000000000000");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json()["error"]["type"], "authentication_error") << wrong.body;
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_api_key") << wrong.body;

  auto not_bearer = http_call("GET", serve.url("/v1/models"), {}, {"Authorization: Basic " + kAliceKey});
  EXPECT_EQ(not_bearer.status, 401);

  // Nothing was started by the refused requests; health checks need no key.
  EXPECT_EQ(serve.get("/v1/runs").json()["data"].size(), 0u);
  EXPECT_EQ(http_call("GET", serve.url("/healthz")).status, 200);
}

TEST(ServeCli, OneTenantCannotSeeStreamOrCancelAnothersRun) {
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);

  auto started = serve.post("/v1/runs", {{"target", "demo/chat"}, {"input", "alice's secret"}}, kAliceKey);
  ASSERT_EQ(started.status, 202) << started.body;
  const std::string id = started.json().value("id", "");
  ASSERT_FALSE(id.empty()) << started.body;
  EXPECT_EQ(started.headers["location"], "/v1/runs/" + id);
  auto done = serve.get("/v1/runs/" + id + "?wait=true", kAliceKey);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["status"], "succeeded") << done.body;

  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/runs/" + id},
           {"GET", "/v1/runs/" + id + "?wait=true"},
           {"GET", "/v1/runs/" + id + "/events"},
           {"POST", "/v1/runs/" + id + "/cancel"}}) {
    auto bob = http_call(method, serve.url(path), method == "POST" ? "{}" : "", bearer(kBobKey));
    EXPECT_EQ(bob.status, 404) << method << " " << path << ": " << bob.body;
    EXPECT_EQ(bob.json()["error"]["code"], "run_not_found") << bob.body;
    EXPECT_EQ(bob.body.find("alice's secret"), std::string::npos) << bob.body;
  }
  auto bobs_runs = serve.get("/v1/runs", kBobKey);
  ASSERT_EQ(bobs_runs.status, 200);
  EXPECT_EQ(run_ids(bobs_runs).count(id), 0u) << bobs_runs.body;

  // Alice still sees it, untouched by bob's cancel, and can read its events.
  EXPECT_EQ(run_ids(serve.get("/v1/runs", kAliceKey)).count(id), 1u);
  auto mine = serve.get("/v1/runs/" + id, kAliceKey);
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.json()["status"], "succeeded") << mine.body;
  EXPECT_EQ(mine.json()["user_id"], "alice");
  EXPECT_EQ(mine.json()["output"], "alice's secret");
  auto events = serve.get("/v1/runs/" + id + "/events", kAliceKey);
  ASSERT_EQ(events.status, 200);
  auto [kind, data] = last_event(events.body);
  EXPECT_EQ(kind, "run_finished") << events.body;
  EXPECT_EQ(data["output"], "alice's secret") << events.body;
}

TEST(ServeCli, BadRequestsGetTheirOwn4xxAndTheServerGoesOnAnswering) {
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path(), {"--max-body", "1024"});
  ASSERT_LISTENING(serve);

  struct Case {
    std::string what, method, path, body;
    std::vector<std::string> headers;
    long status;
    std::string code;
  };
  const std::string huge = json{{"target", "demo/chat"}, {"input", std::string(4096, 'x')}}.dump();
  const std::vector<Case> cases = {
      {"malformed JSON", "POST", "/v1/runs", R"({"target": "demo/chat", "input": )", bearer(kAliceKey), 400,
       "invalid_json"},
      {"a JSON array", "POST", "/v1/runs", "[1, 2]", bearer(kAliceKey), 400, "invalid_json"},
      {"no target", "POST", "/v1/runs", R"({"input": "hi"})", bearer(kAliceKey), 400, "missing_field"},
      {"an unknown target", "POST", "/v1/runs", R"({"target": "demo/nobody", "input": "hi"})", bearer(kAliceKey), 404,
       "target_not_found"},
      {"an unknown model", "POST", "/v1/chat/completions",
       R"({"model": "demo/nobody", "messages": [{"role": "user", "content": "hi"}]})", bearer(kAliceKey), 404,
       "model_not_found"},
      {"a body above --max-body", "POST", "/v1/runs", huge, bearer(kAliceKey), 413, "request_too_large"},
      {"a text/plain body", "POST", "/v1/runs", R"({"target": "demo/chat", "input": "hi"})",
       {"Authorization: Bearer " + kAliceKey, "Content-Type: text/plain"}, 415, "unsupported_media_type"},
      {"no content type", "POST", "/v1/chat/completions", R"({"model": "demo/chat"})",
       {"Authorization: Bearer " + kAliceKey}, 415, "unsupported_media_type"},
      {"an unknown route", "GET", "/v1/nothing-here", "", bearer(kAliceKey), 404, "not_found"},
      {"an unknown route outside /v1", "GET", "/admin", "", {}, 404, "not_found"},
      {"a wrong method", "DELETE", "/v1/runs", "", bearer(kAliceKey), 405, "method_not_allowed"},
      {"GET on chat completions", "GET", "/v1/chat/completions", "", bearer(kAliceKey), 405, "method_not_allowed"},
  };
  for (const auto& c : cases) {
    auto reply = http_call(c.method, serve.url(c.path), c.body, c.headers);
    EXPECT_EQ(reply.status, c.status) << c.what << ": " << reply.body;
    EXPECT_EQ(reply.headers["content-type"], "application/json") << c.what;
    auto body = reply.json();
    ASSERT_TRUE(body.is_object() && body.contains("error")) << c.what << ": " << reply.body;
    EXPECT_EQ(body["error"]["code"], c.code) << c.what << ": " << reply.body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << c.what;
    if (c.status == 405) {
      EXPECT_FALSE(reply.headers["allow"].empty()) << c.what;
    }
  }

  // None of them started a run, and a good request is answered as usual.
  EXPECT_EQ(serve.get("/v1/runs").json()["data"].size(), 0u);
  auto good = serve.post("/v1/runs", {{"target", "demo"}, {"input", "still here"}});
  ASSERT_EQ(good.status, 202) << good.body;
  auto done = serve.get("/v1/runs/" + good.json().value("id", "") + "?wait=true");
  EXPECT_EQ(done.json()["status"], "succeeded") << done.body;
  EXPECT_EQ(done.json()["output"], "still here!") << done.body;
  EXPECT_EQ(http_call("GET", serve.url("/readyz")).status, 200);
}

TEST(ServeCli, TargetsListsTheWorkflowAndEveryAgentOfTheSpec) {
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  EXPECT_NE(serve.err().find("(3 targets: demo demo/chat demo/helper)"), std::string::npos) << serve.err();
  auto targets = serve.get("/v1/targets");
  ASSERT_EQ(targets.status, 200);
  const auto data = targets.json()["data"];
  ASSERT_EQ(data.size(), 3u) << targets.body;
  EXPECT_EQ(data[0]["name"], "demo");
  EXPECT_EQ(data[0]["kind"], "workflow");
  EXPECT_EQ(data[0]["description"], "serve CLI tests");
  EXPECT_EQ(data[1]["name"], "demo/chat");
  EXPECT_EQ(data[1]["kind"], "agent");
  EXPECT_EQ(data[2]["name"], "demo/helper");
  EXPECT_EQ(data[2]["description"], "Help.");  // the instructions' first line
}

TEST(ServeCli, RefusesToStartWithoutApiKeysAndSaysToPassKeys) {
  SpecFile spec(kDemoSpec);
  auto r = run_cli({"serve", "--spec", spec.path(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit.code, 2) << r.err;
  EXPECT_NE(r.err.find("--keys"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

TEST(ServeCli, RefusesToStartWithASpecPathThatDoesNotExist) {
  TempDir dir("loomflow-serve-nospec");
  const auto keys = dir.path() / "keys";
  std::ofstream(keys) << kAliceKey << " alice\n";
  const auto missing = (dir.path() / "no-such-spec.json").string();
  auto r = run_cli({"serve", "--spec", missing, "--listen", "127.0.0.1:0", "--keys", keys.string()});
  EXPECT_EQ(r.exit.code, 2) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

TEST(ServeCli, RefusesToStartWithAnInvalidSpecNamingTheFile) {
  SpecFile spec(R"({"loomflow": 1, "name": "broken", "agents": {"a": {"model": "echo", "nonsense": 1}}})");
  TempDir dir("loomflow-serve-badspec");
  const auto keys = dir.path() / "keys";
  std::ofstream(keys) << kAliceKey << " alice\n";
  auto r = run_cli({"serve", "--spec", spec.dir(), "--listen", "127.0.0.1:0", "--keys", keys.string()});
  EXPECT_EQ(r.exit.code, 2) << r.err;
  EXPECT_NE(r.err.find(spec.path()), std::string::npos) << r.err;
}

// A streamed run of "slow/held" started on its own thread, in flight at the held model until
// finish() (or the end of the test) releases the model.
class HeldStream {
 public:
  HeldStream(ServeProcess& serve, HeldModel& model, const std::string& input) : model_(model) {
    client_ = std::thread([this, &serve, input] {
      reply_ = serve.post("/v1/runs", {{"target", "slow/held"}, {"input", input}, {"stream", true}});
    });
  }
  ~HeldStream() { finish(); }
  bool reached_model() { return model_.wait_for_requests(1, kStartTimeout); }
  // Releases the model and waits for the stream's end.
  const HttpReply& finish() {
    model_.release();
    if (client_.joinable()) client_.join();
    return reply_;
  }

 private:
  HeldModel& model_;
  HttpReply reply_;
  std::thread client_;
};

TEST(ServeCli, SigtermLetsARunInFlightFinishAndRefusesNewWorkMeanwhile) {
  HeldModel model("held answer");
  SpecFile spec(model.spec());
  ServeProcess serve(spec.path(), {"--grace-ms", "30000"});
  ASSERT_LISTENING(serve);

  // A connection opened before SIGTERM, and new ones made during the grace period.
  KeepAliveClient kept;
  auto ready = kept.call("GET", serve.url("/readyz"));
  ASSERT_EQ(ready.status, 200) << ready.body;

  HeldStream held(serve, model, "take your time");
  ASSERT_TRUE(held.reached_model()) << "the run never called its model:\n" << serve.err();

  serve.process().signal(SIGTERM);
  ASSERT_TRUE(serve.process().wait_for_stderr("SIGTERM: shutting down, 1 runs in flight", kStartTimeout)) << serve.err();
  // Readiness turns 503 (right after that line): ask until it has.
  KeepAliveClient::Reply readiness;
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  do {
    readiness = kept.call("GET", serve.url("/readyz"));
  } while (readiness.status == 200 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(readiness.status, 503) << readiness.body;
  EXPECT_EQ(readiness.json_body()["status"], "shutting_down") << readiness.body;
  EXPECT_EQ(readiness.new_connections, 0);
  // New connections are still taken during the grace period, so probes see the 503 too.
  EXPECT_EQ(http_call("GET", serve.url("/readyz")).status, 503);
  auto refused = kept.call("POST", serve.url("/v1/runs"), R"({"target": "slow/held", "input": "one more"})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json_body()["error"]["code"], "shutting_down") << refused.body;
  auto refused_chat = kept.call("POST", serve.url("/v1/chat/completions"),
                                R"({"model": "slow/held", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(refused_chat.status, 503) << refused_chat.body;
  EXPECT_FALSE(model.wait_for_requests(2, 0ms)) << "a refused request reached the model";

  const auto& streamed = held.finish();
  EXPECT_EQ(streamed.status, 200);
  auto [kind, data] = last_event(streamed.body);
  EXPECT_EQ(kind, "run_finished") << streamed.body;
  EXPECT_EQ(data["ok"], true) << streamed.body;
  EXPECT_EQ(data["output"], "held answer") << streamed.body;

  auto exit = serve.process().wait_exit(kExitTimeout);
  ASSERT_TRUE(exit.has_value()) << "serve did not stop:\n" << serve.err();
  EXPECT_EQ(exit->code, 0) << serve.err();
  EXPECT_NE(serve.err().find("loomflow serve: stopped"), std::string::npos) << serve.err();
  EXPECT_EQ(serve.err().find("cancelling"), std::string::npos) << serve.err();
}

TEST(ServeCli, SigtermCancelsARunStillGoingAfterTheGracePeriodAndExitsWithOne) {
  HeldModel model("never sent");
  SpecFile spec(model.spec());
  ServeProcess serve(spec.path(), {"--grace-ms", "200"});
  ASSERT_LISTENING(serve);

  HeldStream held(serve, model, "forever");
  ASSERT_TRUE(held.reached_model()) << "the run never called its model:\n" << serve.err();

  serve.process().signal(SIGTERM);
  auto exit = serve.process().wait_exit(kExitTimeout);  // the model is never released
  ASSERT_TRUE(exit.has_value()) << "serve did not stop:\n" << serve.err();
  EXPECT_EQ(exit->code, 1) << serve.err();
  EXPECT_NE(serve.err().find("1 runs still going after 200 ms: cancelling them"), std::string::npos) << serve.err();
  EXPECT_NE(serve.err().find("loomflow serve: stopped"), std::string::npos) << serve.err();

  const auto& streamed = held.finish();  // the server is gone: the stream has ended
  EXPECT_EQ(streamed.status, 200);
  auto [kind, data] = last_event(streamed.body);
  EXPECT_EQ(kind, "run_finished") << streamed.body;
  EXPECT_EQ(data["ok"], false) << streamed.body;
  EXPECT_NE(streamed.body.find("cancel"), std::string::npos) << streamed.body;
}

TEST(ServeCli, ARunCancelledAtShutdownKeepsItsSessionInTheJournal) {
  HeldModel model("never sent");
  SpecFile spec(model.spec());
  TempDir journal_dir("loomflow-serve-journal");
  const std::string journal = "rocksdb:" + (journal_dir.path() / "db").string();
  std::string id;
  {
    ServeProcess serve(spec.path(), {"--grace-ms", "200", "--journal", journal});
    ASSERT_LISTENING(serve);
    EXPECT_NE(serve.err().find("; journal "), std::string::npos) << serve.err();
    auto started = serve.post("/v1/runs", {{"target", "slow"}, {"input", "remember me"}});
    ASSERT_EQ(started.status, 202) << started.body;
    id = started.json().value("id", "");
    ASSERT_FALSE(id.empty()) << started.body;
    ASSERT_TRUE(model.wait_for_requests(1, kStartTimeout)) << "the run never called its model:\n" << serve.err();
    serve.process().signal(SIGTERM);
    auto exit = serve.process().wait_exit(kExitTimeout);
    ASSERT_TRUE(exit.has_value()) << "serve did not stop:\n" << serve.err();
    EXPECT_NE(serve.err().find("(their committed steps stay in the journal)"), std::string::npos) << serve.err();
  }
  // The run id is the session id; the session names who ran what.
  auto shown = run_cli({"runs", "show", id, "--journal", journal, "--json"});
  EXPECT_EQ(shown.exit.code, 0) << shown.out << shown.err;
  auto session = json::parse(shown.out, nullptr, false);
  ASSERT_TRUE(session.is_object()) << shown.out << shown.err;
  EXPECT_EQ(session["session_id"], id) << shown.out;
  EXPECT_EQ(session["user_id"], "alice") << shown.out;
  EXPECT_EQ(session["target"], "slow") << shown.out;
  EXPECT_EQ(session["input"], "remember me") << shown.out;
  EXPECT_EQ(session["status"], "failed") << shown.out;
  EXPECT_EQ(session["error"]["code"], "cancelled") << shown.out;
  auto unknown = run_cli({"runs", "show", "run-not-there", "--journal", journal});
  EXPECT_NE(unknown.exit.code, 0) << unknown.out;
}

// A served agent run with chat history resumes from the journal: `runs resume` runs the agent (not
// the spec's workflow) with the same history, so every journaled step replays without divergence.
TEST(ServeCli, AServedAgentRunWithChatHistoryResumesFromTheJournal) {
  SpecFile spec(loomflow::testing::kServeTestSpec);
  TempDir journal_dir("loomflow-serve-journal");
  const std::string journal = "rocksdb:" + (journal_dir.path() / "db").string();
  std::string id;
  {
    ServeProcess serve(spec.path(), {"--journal", journal});
    ASSERT_LISTENING(serve);
    auto reply = serve.post("/v1/chat/completions",
                            {{"model", "demo/calc"},
                             {"messages", json::array({{{"role", "system"}, {"content", "Be terse."}},
                                                       {{"role", "user"}, {"content", "hi"}},
                                                       {{"role", "assistant"}, {"content", "hello"}},
                                                       {{"role", "user"}, {"content", "count"}}})}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.json()["choices"][0]["message"]["content"], "three words");
    id = reply.headers["x-loomflow-run-id"];
    ASSERT_FALSE(id.empty());
  }
  auto resumed = run_cli({"runs", "resume", id, "--journal", journal, "--json"});
  ASSERT_EQ(resumed.exit.code, 0) << resumed.out << resumed.err;
  auto out = json::parse(resumed.out, nullptr, false);
  EXPECT_EQ(out["output"], "three words") << resumed.out;
  EXPECT_EQ(out["replayed_steps"], 3) << resumed.out;  // two model calls and the tool call
}

// ================================================================================================
// OpenAiClient: the official `openai` npm package against the served agents and workflows
// ================================================================================================

TEST(OpenAiClient, ListsTheHostedWorkflowAndAgentsAsModels) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  auto out = openai_client(serve, "models");
  EXPECT_EQ(out["model_ids"], json({"demo", "demo/chat", "demo/helper"})) << out.dump();
}

TEST(OpenAiClient, ANonStreamedCompletionReturnsTheAgentsAnswerAndUsage) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  auto out = openai_client(serve, "chat", "demo/chat", "What is the capital of France?");
  ASSERT_FALSE(out.contains("error")) << out.dump();
  EXPECT_EQ(out["content"], "What is the capital of France?") << out.dump();
  EXPECT_EQ(out["role"], "assistant");
  EXPECT_EQ(out["finish_reason"], "stop");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["model"], "demo/chat");
  EXPECT_EQ(out["id"].get<std::string>().rfind("chatcmpl-run-", 0), 0u) << out.dump();
  // The echo model's usage: the instructions and the question in, the answer out.
  const auto prompt = message_tokens("Repeat.") + message_tokens("What is the capital of France?");
  const auto completion = loomflow::providers::approximate_tokens("What is the capital of France?");
  EXPECT_EQ(out["usage"]["prompt_tokens"], prompt) << out.dump();
  EXPECT_EQ(out["usage"]["completion_tokens"], completion) << out.dump();
  EXPECT_EQ(out["usage"]["total_tokens"], prompt + completion) << out.dump();
}

TEST(OpenAiClient, AStreamedCompletionsDeltasAddUpToTheAnswerEndingWithStopAndAUsageChunk) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  const std::string question = "Stream this sentence back, please.";
  auto whole = openai_client(serve, "chat", "demo/chat", question);
  auto streamed = openai_client(serve, "stream", "demo/chat", question);
  ASSERT_FALSE(streamed.contains("error")) << streamed.dump();
  EXPECT_EQ(streamed["content"], whole["content"]) << streamed.dump();
  EXPECT_EQ(streamed["content"], question);
  EXPECT_EQ(streamed["role"], "assistant");
  EXPECT_EQ(streamed["finish_reason"], "stop") << streamed.dump();
  EXPECT_EQ(streamed["usage_chunks"], 1) << streamed.dump();
  EXPECT_EQ(streamed["usage"], whole["usage"]) << streamed.dump();
  EXPECT_GE(streamed["chunks"].get<int>(), 3) << streamed.dump();  // role, content..., stop, usage
  ASSERT_EQ(streamed["ids"].size(), 1u) << "every chunk carries the completion's id: " << streamed.dump();
  EXPECT_EQ(streamed["ids"][0].get<std::string>().rfind("chatcmpl-run-", 0), 0u);
}

TEST(OpenAiClient, AConversationsEarlierMessagesReachTheAgent) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  const std::string question = "What is my favourite number?";
  auto alone = openai_client(serve, "chat", "demo/chat", question);
  auto with_history = openai_client(serve, "history", "demo/chat", question);
  ASSERT_FALSE(with_history.contains("error")) << with_history.dump();
  // The echo agent answers the last user message...
  EXPECT_EQ(with_history["content"], question);
  // ...having been given the system, user and assistant turns before it (chat_client.mjs reports them).
  ASSERT_EQ(with_history["sent"].size(), 4u) << with_history.dump();
  std::uint64_t history_tokens = 0;
  for (std::size_t k = 0; k + 1 < with_history["sent"].size(); ++k)
    history_tokens += message_tokens(with_history["sent"][k]["content"].get<std::string>());
  EXPECT_EQ(with_history["usage"]["prompt_tokens"].get<std::uint64_t>(),
            alone["usage"]["prompt_tokens"].get<std::uint64_t>() + history_tokens)
      << "without history: " << alone.dump() << "\nwith: " << with_history.dump();
}

TEST(OpenAiClient, AWrongApiKeyRaisesAuthenticationError) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  auto out = openai_client(serve, "chat", "demo/chat", "hi", "sk-wrong-key-00000000000000");
  EXPECT_EQ(out["error"]["status"], 401) << out.dump();
  EXPECT_EQ(out["error"]["name"], "AuthenticationError") << out.dump();
  auto models = openai_client(serve, "models", "", "", "sk-wrong-key-00000000000000");
  EXPECT_EQ(models["error"]["name"], "AuthenticationError") << models.dump();
}

TEST(OpenAiClient, AnUnknownModelRaisesNotFoundError) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  auto out = openai_client(serve, "chat", "demo/nobody", "hi");
  EXPECT_EQ(out["error"]["status"], 404) << out.dump();
  EXPECT_EQ(out["error"]["name"], "NotFoundError") << out.dump();
  EXPECT_NE(out["error"]["message"].get<std::string>().find("demo/nobody"), std::string::npos) << out.dump();
  auto streamed = openai_client(serve, "stream", "demo/nobody", "hi");
  EXPECT_EQ(streamed["error"]["name"], "NotFoundError") << streamed.dump();
}

TEST(OpenAiClient, AWorkflowTargetAnswersWithTheWorkflowsOutput) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kDemoSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  auto out = openai_client(serve, "chat", "demo", "hello");
  ASSERT_FALSE(out.contains("error")) << out.dump();
  EXPECT_EQ(out["content"], "hello!") << out.dump();  // the template node, then the echo agent
  EXPECT_EQ(out["model"], "demo");
  auto streamed = openai_client(serve, "stream", "demo", "hello");
  ASSERT_FALSE(streamed.contains("error")) << streamed.dump();
  EXPECT_EQ(streamed["content"], "hello!") << streamed.dump();
  EXPECT_EQ(streamed["finish_reason"], "stop");
  EXPECT_EQ(streamed["usage_chunks"], 1);
}

TEST(OpenAiClient, APerRunScriptedAgentCallsItsToolAndAnswersEveryCompletionTheSame) {
  LOOMFLOW_REQUIRE_OPENAI_CLIENT();
  SpecFile spec(kScriptedSpec);
  ServeProcess serve(spec.path());
  ASSERT_LISTENING(serve);
  // per_run: each completion replays the script from its first reply (tool call, then the answer).
  for (int k = 0; k < 2; ++k) {
    auto out = openai_client(serve, "chat", "tools/calc", "count these");
    ASSERT_FALSE(out.contains("error")) << out.dump();
    EXPECT_EQ(out["content"], "three words") << out.dump();
  }
  auto streamed = openai_client(serve, "stream", "tools/calc", "count these");
  ASSERT_FALSE(streamed.contains("error")) << streamed.dump();
  EXPECT_EQ(streamed["content"], "three words") << streamed.dump();
  EXPECT_EQ(streamed["finish_reason"], "stop");
}

}  // namespace
