// `loomflow serve`'s API in process: runs started, streamed as SSE, waited for, replayed from an
// event number, read over WebSocket, cancelled or detached when the client goes away — and a slow
// SSE client holding the model's stream back end to end.
#include <fstream>
#include <thread>

#include "long_stream_server.hpp"
#include "loopback_socket.hpp"
#include "serve_fixture.hpp"

using namespace loomflow;
using namespace loomflow::testing;

namespace {

std::vector<std::string> types_of(const std::vector<std::pair<std::string, std::string>>& events) {
  std::vector<std::string> out;
  for (const auto& [event, data] : events) out.push_back(event);
  return out;
}

// A spec whose agent "talker" streams from a LongStreamServer (model "long").
std::string long_spec() {
  return R"({"loomflow": 1, "name": "streams", "agents": {"talker": {"model": "long"}},
             "workflow": {"entry": "say", "nodes": {"say": {"type": "agent", "agent": "talker"}}}})";
}

SpecEnvironment long_environment(const LongStreamServer& server) {
  auto env = serve_test_environment();
  env.make_model = [&server](std::string_view model, const nlohmann::json& agent, const std::string& path) -> Expected<Model> {
    if (model == "long") return server.model();
    return providers::builtin_model(model, agent, path);
  };
  return env;
}

// A loopback client speaking just enough WebSocket for these tests.
class RawClient : public LoopbackSocket {
 public:
  explicit RawClient(std::uint16_t port) : LoopbackSocket(port) {
    if (!connected()) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  // One WebSocket frame from the server (unmasked): opcode and payload; opcode -1 at EOF.
  std::pair<int, std::string> frame() {
    if (!need(2)) return {-1, {}};
    const int opcode = buffer_[0] & 0x0f;
    std::uint64_t length = static_cast<unsigned char>(buffer_[1]) & 0x7f;
    std::size_t header = 2;
    if (length == 126) {
      if (!need(4)) return {-1, {}};
      length = (static_cast<unsigned char>(buffer_[2]) << 8) | static_cast<unsigned char>(buffer_[3]);
      header = 4;
    } else if (length == 127) {
      if (!need(10)) return {-1, {}};
      length = 0;
      for (int k = 0; k < 8; ++k) length = (length << 8) | static_cast<unsigned char>(buffer_[2 + k]);
      header = 10;
    }
    if (!need(header + length)) return {-1, {}};
    std::string payload = buffer_.substr(header, length);
    buffer_.erase(0, header + length);
    return {opcode, payload};
  }
  // A masked text frame from the client.
  void send_text(const std::string& text) {
    std::string frame;
    frame += static_cast<char>(0x81);
    frame += static_cast<char>(0x80 | text.size());  // tests send < 126 bytes
    const char mask[4] = {1, 2, 3, 4};
    frame.append(mask, 4);
    for (std::size_t k = 0; k < text.size(); ++k) frame += static_cast<char>(text[k] ^ mask[k % 4]);
    send(frame);
  }

 private:
  bool need(std::size_t n) {
    while (buffer_.size() < n)
      if (!read_more()) return false;
    return true;
  }
};

std::string post_request(std::uint16_t port, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nAuthorization: Bearer " + kAliceKey + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST(ServeApi, AStreamedRunAnswersWithItsEventsAsServerSentEvents) {
  ServeFixture serve(kServeTestSpec);
  auto reply = serve.post("/v1/runs", {{"target", "demo"}, {"input", "hi"}, {"stream", true}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "text/event-stream");
  EXPECT_EQ(reply.headers["x-loomflow-run-id"].rfind("run-", 0), 0u);
  auto events = sse_events(reply.body);
  EXPECT_EQ(types_of(events), (std::vector<std::string>{"run_started", "node_entered", "node_left", "node_entered",
                                                        "text_delta", "node_left", "run_finished"}));
  auto finished = nlohmann::json::parse(events.back().second);
  EXPECT_EQ(finished["output"], "hi!");
  EXPECT_EQ(finished["seq"], 7);
  EXPECT_NE(reply.body.find("id: 7\nevent: run_finished\n"), std::string::npos);
}

TEST(ServeApi, ARunStartedWithoutStreamingCanBeWaitedForAndListed) {
  ServeFixture serve(kServeTestSpec);
  auto started = serve.post("/v1/runs", {{"target", "demo/calc"}, {"input", "count"}});
  ASSERT_EQ(started.status, 202) << started.body;
  const std::string id = started.json()["id"];
  EXPECT_EQ(started.headers["location"], "/v1/runs/" + id);
  auto done = serve.get("/v1/runs/" + id + "?wait=true");
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["status"], "succeeded");
  EXPECT_EQ(done.json()["output"], "three words");
  EXPECT_EQ(done.json()["usage"]["tool_calls"], 1);
  auto list = serve.get("/v1/runs");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["data"].size(), 1u);
  EXPECT_EQ(list.json()["data"][0]["id"], id);
}

TEST(ServeApi, TheEventsOfARunCanBeReadAgainFromAnyEventNumber) {
  ServeFixture serve(kServeTestSpec);
  const std::string id = serve.post("/v1/runs", {{"target", "demo/calc"}, {"input", "count"}}).json()["id"];
  ASSERT_EQ(serve.get("/v1/runs/" + id + "?wait=true").status, 200);
  auto all = sse_events(serve.get("/v1/runs/" + id + "/events").body);
  ASSERT_GE(all.size(), 5u);
  EXPECT_EQ(all.front().first, "run_started");
  EXPECT_EQ(all.back().first, "run_finished");
  auto resumed = http_call("GET", serve.url("/v1/runs/" + id + "/events"), {},
                           {"Authorization: Bearer " + kAliceKey, "Last-Event-ID: 3"});
  auto rest = sse_events(resumed.body);
  ASSERT_EQ(rest.size(), all.size() - 3);
  EXPECT_EQ(nlohmann::json::parse(rest.front().second)["seq"], 4);
  EXPECT_EQ(serve.get("/v1/runs/" + id + "/events?after=x").status, 400);
}

TEST(ServeApi, ARunsEventsCanBeReadOverAWebSocket) {
  ServeFixture serve(kServeTestSpec);
  const std::string id = serve.post("/v1/runs", {{"target", "demo/chat"}, {"input", "hello"}}).json()["id"];
  RawClient ws(serve.port());
  ws.send("GET /v1/runs/" + id + "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kAliceKey +
          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  auto head = ws.take_until("\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  std::vector<nlohmann::json> events;
  for (;;) {
    auto [opcode, payload] = ws.frame();
    if (opcode != 1) {
      EXPECT_EQ(opcode, 8);  // the server closes once the run's last event went out
      break;
    }
    events.push_back(nlohmann::json::parse(payload));
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "run_started");
  EXPECT_EQ(events[1]["text"], "hello");
  EXPECT_EQ(events[2]["type"], "run_finished");
}

TEST(ServeApi, AWebSocketClientCanCancelTheRunItWatches) {
  LongStreamServer model(10, 8, /*hold=*/true);
  ServeFixture serve(long_spec(), {}, {}, long_environment(model));
  const std::string id = serve.post("/v1/runs", {{"target", "streams/talker"}, {"input", "go"}}).json()["id"];
  ASSERT_TRUE(model.wait_for_requests(1));
  RawClient ws(serve.port());
  ws.send("GET /v1/runs/" + id + "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kAliceKey +
          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  ASSERT_EQ(ws.take_until("\r\n\r\n").rfind("HTTP/1.1 101", 0), 0u);
  ws.send_text(R"({"type":"cancel"})");
  auto done = serve.get("/v1/runs/" + id + "?wait=true");
  EXPECT_EQ(done.json()["status"], "cancelled") << done.body;
}

TEST(ServeApi, CancellingARunEndsItAsCancelled) {
  LongStreamServer model(10, 8, /*hold=*/true);
  ServeFixture serve(long_spec(), {}, {}, long_environment(model));
  const std::string id = serve.post("/v1/runs", {{"target", "streams"}, {"input", "go"}}).json()["id"];
  ASSERT_TRUE(model.wait_for_requests(1));
  auto cancel = serve.post("/v1/runs/" + id + "/cancel", nlohmann::json::object());
  EXPECT_EQ(cancel.status, 202) << cancel.body;
  auto done = serve.get("/v1/runs/" + id + "?wait=true");
  EXPECT_EQ(done.json()["status"], "cancelled") << done.body;
  EXPECT_EQ(done.json()["error"]["code"], "cancelled");
}

TEST(ServeApi, AStreamingClientThatDisconnectsCancelsItsRun) {
  LongStreamServer model(1'000'000, 64);
  ServeFixture serve(long_spec(), {}, {}, long_environment(model));
  std::string id;
  {
    RawClient client(serve.port());
    client.send(post_request(serve.port(), "/v1/runs", R"({"target":"streams/talker","input":"go","stream":true})"));
    auto head = client.take_until("\r\n\r\n");
    auto at = head.find("X-Loomflow-Run-Id: ");
    ASSERT_NE(at, std::string::npos) << head;
    id = head.substr(at + 19, head.find("\r\n", at) - at - 19);
    client.take_until("event: text_delta");  // the model is streaming
  }
  auto done = serve.get("/v1/runs/" + id + "?wait=true");
  EXPECT_EQ(done.json()["status"], "cancelled") << done.body;
}

TEST(ServeApi, AStreamingClientThatAskedToDetachLeavesItsRunFinishingInTheBackground) {
  LongStreamServer model(20'000, 16);
  ServeFixture serve(long_spec(), {}, {}, long_environment(model));
  std::string id;
  {
    RawClient client(serve.port());
    client.send(post_request(serve.port(), "/v1/runs",
                             R"({"target":"streams/talker","input":"go","stream":true,"on_disconnect":"detach"})"));
    auto head = client.take_until("\r\n\r\n");
    auto at = head.find("X-Loomflow-Run-Id: ");
    ASSERT_NE(at, std::string::npos) << head;
    id = head.substr(at + 19, head.find("\r\n", at) - at - 19);
    client.take_until("event: text_delta");
  }
  auto done = serve.get("/v1/runs/" + id + "?wait=true");
  EXPECT_EQ(done.json()["status"], "succeeded") << done.body.substr(0, 300);
  EXPECT_EQ(done.json()["output"].get<std::string>().size(), 20'000u * 16u);
}

// 30,000 deltas of 1 KiB through the HTTP API to a client reading ~25 MB/s: the server holds the
// model's stream back instead of buffering it, and the client gets every delta in order.
TEST(ServeApi, ASlowSseClientHoldsTheModelStreamBackEndToEnd) {
  constexpr std::size_t kDeltas = 30'000, kBytes = 1024;
  LongStreamServer model(kDeltas, kBytes);
  serve::AppOptions options;
  options.hub.history_events = 256;
  ServeFixture serve(long_spec(), options, {}, long_environment(model));
  RawClient client(serve.port());
  const long rss_before = rss_kib();
  client.send(post_request(serve.port(), "/v1/runs", R"({"target":"streams/talker","input":"go","stream":true})"));
  client.take_until("\r\n\r\n");
  std::size_t k = 0, mismatches = 0;
  long worst_excess_kib = -1'000'000;
  for (;;) {
    auto frame = client.take_until("\n\n");
    if (frame.empty() || frame.find("event: run_finished") != std::string::npos) break;
    if (frame.find("event: text_delta") == std::string::npos) continue;
    auto data = frame.substr(frame.find("data: ") + 6);
    if (nlohmann::json::parse(data)["text"] != model.delta(k)) ++mismatches;
    ++k;
    // Checked over the first half: socket buffers let the run get a few MB ahead of this reader, and
    // at its end the run's result and last events carry the whole answer.
    if (k % 50 == 0 && k < kDeltas / 2) {
      // Allowed: the answer assembled so far, three times over (the stream reader's text grows by
      // doubling, and a realloc holds old and new buffer at once), plus 24 MiB. Without backpressure
      // the excess over this is ~100 MB.
      const long excess = (rss_kib() - rss_before) - (3 * static_cast<long>(k * kBytes / 1024) + 24 * 1024);
      worst_excess_kib = std::max(worst_excess_kib, excess);
    }
    if (k % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the slow reader
  }
  EXPECT_EQ(k, kDeltas);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_LE(worst_excess_kib, 0) << "memory grew beyond the text consumed by " << worst_excess_kib << " KiB";
  EXPECT_LT(model.sent(), kDeltas * (kBytes + 200)) << "sanity: the model sent the whole stream";
}

TEST(ServeApi, AStreamingClientMissesNoEventEvenWithAHistoryShorterThanItsLag) {
  LongStreamServer model(2'000, 16);
  serve::AppOptions options;
  options.hub.history_events = 8;  // far below primary_lag_events (64)
  ServeFixture serve(long_spec(), options, {}, long_environment(model));
  auto reply = serve.post("/v1/runs", {{"target", "streams/talker"}, {"input", "go"}, {"stream", true}});
  ASSERT_EQ(reply.status, 200);
  std::size_t deltas = 0, errors = 0;
  for (const auto& [event, data] : sse_events(reply.body)) {
    deltas += event == "text_delta";
    errors += event == "error";
  }
  EXPECT_EQ(deltas, 2'000u);
  EXPECT_EQ(errors, 0u);
}
