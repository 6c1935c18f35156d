// tools_cli/serve/openapi.json against the `loomflow serve` it documents: the document is OpenAPI 3.1
// with every route the App serves (and no other), each documented route is answered by a live
// in-process server (ServeFixture), and what that server answers — runs, lists, models, chat
// completions and their chunks, every kind of run event over SSE and WebSocket, and the error
// bodies — validates against the schema the document gives for that route and status. Schemas are
// checked with our own validator (loomflow/json_schema.hpp): the document itself is the root schema,
// so its `$ref`s to #/components/... resolve as they are.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/json_schema.hpp"
#include "long_stream_server.hpp"
#include "serve_fixture.hpp"

namespace loomflow::testing {
namespace {

using json = nlohmann::json;

// ---- The document -------------------------------------------------------------------------------

const json& openapi() {
  static const json doc = [] {
    std::ifstream in(std::string(LOOMFLOW_SOURCE_DIR) + "/tools_cli/serve/openapi.json");
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  return doc;
}

// Every (method, path) the App serves (tools_cli/serve/loomflow/serve/app.cpp, openai_compat.cpp).
const std::vector<std::pair<std::string, std::string>> kServedRoutes = {
    {"get", "/healthz"},
    {"get", "/readyz"},
    {"get", "/v1/targets"},
    {"get", "/v1/runs"},
    {"post", "/v1/runs"},
    {"get", "/v1/runs/{id}"},
    {"post", "/v1/runs/{id}/cancel"},
    {"get", "/v1/runs/{id}/events"},
    {"get", "/v1/models"},
    {"get", "/v1/models/{id}"},
    {"post", "/v1/chat/completions"},
};

const std::set<std::string> kOperationKeys = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

// An RFC 6901 reference token.
std::string escape_token(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// `pointer`, following the node's "$ref" (to another place in the document) while it has one.
std::string follow(std::string pointer) {
  for (int hops = 0; hops < 8; ++hops) {
    if (!openapi().contains(json::json_pointer(pointer))) return pointer;  // callers check documented()
    const json& node = openapi().at(json::json_pointer(pointer));
    if (!node.is_object() || !node.contains("$ref")) return pointer;
    pointer = node["$ref"].get<std::string>().substr(1);  // "#/components/..." -> "/components/..."
  }
  ADD_FAILURE() << "$ref chain too long at " << pointer;
  return pointer;
}

// Where the document describes the answer `status` of `method path` (its $ref followed).
std::string response_at(const std::string& method, const std::string& path, int status) {
  return follow("/paths/" + escape_token(path) + "/" + method + "/responses/" + std::to_string(status));
}

bool documented(const std::string& pointer) { return openapi().contains(json::json_pointer(pointer)); }

// Validates `instance` against the schema at `pointer` (a JSON pointer into the document); the
// problem in words, or empty when it is valid.
std::string schema_problem(const std::string& pointer, const json& instance) {
  static std::map<std::string, json> roots;  // the document with a "$ref" to `pointer`, per pointer
  auto it = roots.find(pointer);
  if (it == roots.end()) {
    json root = openapi();
    root["$ref"] = "#" + pointer;
    it = roots.emplace(pointer, std::move(root)).first;
  }
  auto violation = validate_json(it->second, instance);
  return violation ? violation->to_string() : std::string();
}

std::string component(const std::string& name) { return "/components/schemas/" + name; }

#define EXPECT_MATCHES(pointer, instance)                                        \
  do {                                                                           \
    const std::string problem_ = schema_problem((pointer), (instance));          \
    EXPECT_TRUE(problem_.empty()) << "against " << (pointer) << ": " << problem_ \
                                  << "\n  value: " << (instance).dump();         \
  } while (false)

// Every documented header of the response at `response` that is required is in `reply`, and its
// value matches the header's schema.
void expect_documented_headers(const std::string& response, const HttpReply& reply) {
  const json& documented_response = openapi().at(json::json_pointer(response));
  if (!documented_response.contains("headers")) return;
  for (const auto& [name, header] : documented_response["headers"].items()) {
    const std::string at = follow(response + "/headers/" + escape_token(name));
    if (!openapi().at(json::json_pointer(at)).value("required", false)) continue;
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto found = reply.headers.find(lower);
    if (found == reply.headers.end()) {
      ADD_FAILURE() << "the documented header " << name << " is missing (" << response << ")";
      continue;
    }
    EXPECT_MATCHES(at + "/schema", json(found->second));
  }
}

// The reply matches what the document says of `status` for `method path`: the status is
// documented, the JSON body matches its schema, the required headers are there.
void expect_documented_json(const std::string& method, const std::string& path, int status, const HttpReply& reply) {
  EXPECT_EQ(reply.status, status) << method << " " << path << ": " << reply.body;
  const std::string response = response_at(method, path, status);
  ASSERT_TRUE(documented(response)) << method << " " << path << " does not document " << status;
  const std::string schema = response + "/content/application~1json/schema";
  ASSERT_TRUE(documented(schema)) << response << " has no application/json schema";
  const json body = reply.json();
  ASSERT_FALSE(body.is_discarded()) << "not JSON: " << reply.body;
  EXPECT_MATCHES(schema, body);
  expect_documented_headers(response, reply);
}

// An error reply: documented as above, and with the expected code.
void expect_documented_error(const std::string& method, const std::string& path, int status, const HttpReply& reply,
                             const std::string& code) {
  expect_documented_json(method, path, status, reply);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(reply.json()["error"].value("code", ""), code) << reply.body;
  // Every documented error answer uses the Error schema.
  EXPECT_EQ(openapi().at(json::json_pointer(response_at(method, path, status) + "/content/application~1json/schema")),
            json({{"$ref", "#/components/schemas/Error"}}));
}

// ---- The server ---------------------------------------------------------------------------------

// kServeTestSpec plus an agent that always fails ("broken": an empty per-run script) and one with an
// output schema ("classify": answers structured output).
std::string test_spec() {
  auto spec = json::parse(kServeTestSpec);
  spec["agents"]["broken"] = {{"model", "scripted"}, {"script_mode", "per_run"}, {"script", json::array()}};
  spec["agents"]["classify"] = {
      {"instructions", "Classify the request."},
      {"model", "scripted"},
      {"script_mode", "per_run"},
      {"script", json::array({{{"text", R"({"label":"billing"})"}}})},
      {"output_schema",
       {{"type", "object"}, {"properties", {{"label", {{"type", "string"}}}}}, {"required", json::array({"label"})}}}};
  return spec.dump();
}

struct SseFrame {
  std::optional<std::string> id;
  std::string event;
  std::string data;
};

// An SSE body as frames (one data line per frame, as the server writes them).
std::vector<SseFrame> sse_frames(const std::string& body) {
  std::vector<SseFrame> frames;
  SseFrame frame;
  bool any = false;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      if (any) frames.push_back(frame);
      frame = SseFrame{};
      any = false;
    } else if (line.rfind("id: ", 0) == 0) {
      frame.id = line.substr(4);
      any = true;
    } else if (line.rfind("event: ", 0) == 0) {
      frame.event = line.substr(7);
      any = true;
    } else if (line.rfind("data: ", 0) == 0) {
      frame.data = line.substr(6);
      any = true;
    } else {
      ADD_FAILURE() << "unexpected SSE line: " << line;
    }
  }
  if (any) frames.push_back(frame);
  return frames;
}

std::string run_id_of(const HttpReply& reply) {
  auto id = reply.json().value("id", std::string());
  EXPECT_FALSE(id.empty()) << reply.body;
  return id;
}

// Starts a run in the background and waits for its end; the finished run's reply.
HttpReply finished_run(ServeFixture& f, const std::string& target, const std::string& input = "count") {
  auto started = f.post("/v1/runs", {{"target", target}, {"input", input}});
  EXPECT_EQ(started.status, 202) << started.body;
  return f.get("/v1/runs/" + run_id_of(started) + "?wait=true");
}

// The validated events of an SSE run stream, checking the frame's id and event name against the event.
std::vector<json> expect_documented_run_events(const std::string& method, const std::string& path,
                                               const HttpReply& reply) {
  std::vector<json> events;
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers.count("content-type") ? reply.headers.at("content-type") : "", "text/event-stream");
  const std::string response = response_at(method, path, 200);
  const std::string data_schema = response + "/content/text~1event-stream/x-sse-data";
  EXPECT_TRUE(documented(data_schema)) << response;
  expect_documented_headers(response, reply);
  for (const auto& frame : sse_frames(reply.body)) {
    const json event = json::parse(frame.data, nullptr, false);
    EXPECT_FALSE(event.is_discarded()) << frame.data;
    EXPECT_MATCHES(data_schema, event);
    EXPECT_EQ(frame.event, event.value("type", "")) << frame.data;
    const auto seq = event.value("seq", std::uint64_t{0});
    if (seq == 0)
      EXPECT_FALSE(frame.id.has_value()) << "a synthetic event has no SSE id: " << frame.data;
    else
      EXPECT_EQ(frame.id.value_or(""), std::to_string(seq)) << frame.data;
    events.push_back(event);
  }
  EXPECT_FALSE(events.empty());
  return events;
}

// The kinds of run events the document knows: the `type` constants of RunEvent's alternatives.
std::set<std::string> documented_event_kinds() {
  std::set<std::string> kinds;
  for (const auto& alternative : openapi().at(json::json_pointer(component("RunEvent") + "/oneOf"))) {
    const auto& schema = openapi().at(json::json_pointer(alternative["$ref"].get<std::string>().substr(1)));
    kinds.insert(schema["properties"]["type"]["const"].get<std::string>());
  }
  return kinds;
}

// A spec whose agent "talker" calls a LongStreamServer (model "long"): with `hold`, a run that stays
// running, its model call in flight, until it is cancelled.
const char* kHeldSpec = R"({"loomflow": 1, "name": "streams", "agents": {"talker": {"model": "long"}},
  "workflow": {"entry": "say", "nodes": {"say": {"type": "agent", "agent": "talker"}}}})";

SpecEnvironment held_environment(const LongStreamServer& server) {
  auto env = serve_test_environment();
  env.make_model = [&server](std::string_view model, const nlohmann::json& agent,
                             const std::string& path) -> Expected<Model> {
    if (model == "long") return server.model();
    return providers::builtin_model(model, agent, path);
  };
  return env;
}

json chat_body(const std::string& model, const std::string& text, bool stream = false) {
  json body = {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
  if (stream) body["stream"] = true;
  return body;
}

// A blocking loopback WebSocket client for the events route; the receive timeout is only a safety net.
class WsClient {
 public:
  explicit WsClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~WsClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sends the upgrade request; the head of the answer (empty when none came).
  std::string handshake(const std::string& path, const std::string& key) {
    if (!connected_) return {};
    send_all("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + "Authorization: Bearer " +
             key + "\r\n\r\n");
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) return {};
    std::string head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    return head;
  }

  struct Frame {
    bool fin = false;
    std::uint8_t opcode = 0;
    std::string payload;
  };

  // One masked text frame (payloads under 126 bytes).
  void send_text(std::string_view text) {
    std::string frame = {static_cast<char>(0x81), static_cast<char>(0x80 | text.size())};
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(key, 4);
    for (std::size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ key[i % 4]);
    send_all(frame);
  }

  std::optional<Frame> read_frame() {
    for (;;) {
      if (buffer_.size() >= 2) {
        const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buffer_[i]); };
        std::uint64_t length = byte(1) & 0x7F;
        std::size_t at = 2;
        if (length == 126 && buffer_.size() >= 4) {
          length = (std::uint64_t{byte(2)} << 8) | byte(3);
          at = 4;
        } else if (length == 127 && buffer_.size() >= 10) {
          length = 0;
          for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
          at = 10;
        } else if (length >= 126) {
          at = 0;  // the extended length is not complete yet
        }
        if (at != 0 && buffer_.size() >= at + length) {
          Frame frame{(byte(0) & 0x80) != 0, static_cast<std::uint8_t>(byte(0) & 0x0F), buffer_.substr(at, length)};
          buffer_.erase(0, at + length);
          return frame;
        }
      }
      if (!read_more()) return std::nullopt;
    }
  }

 private:
  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
  }
  bool read_more() {
    char chunk[65536];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

// ---- The document itself ------------------------------------------------------------------------

TEST(OpenApi, TheDocumentIsOpenApi31AndDocumentsExactlyTheRoutesTheAppServes) {
  const json& doc = openapi();
  ASSERT_FALSE(doc.is_discarded()) << "tools_cli/serve/openapi.json is not valid JSON";
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("openapi", "").rfind("3.1.", 0), 0u) << doc.value("openapi", "");
  EXPECT_EQ(doc.value("jsonSchemaDialect", ""), "https://json-schema.org/draft/2020-12/schema");
  ASSERT_TRUE(doc.contains("info"));
  EXPECT_FALSE(doc["info"].value("title", "").empty());
  EXPECT_FALSE(doc["info"].value("version", "").empty());
  EXPECT_FALSE(doc["info"].value("description", "").empty());

  std::set<std::pair<std::string, std::string>> in_document;
  for (const auto& [path, item] : doc.at("paths").items())
    for (const auto& [key, operation] : item.items())
      if (kOperationKeys.count(key)) in_document.emplace(key, path);
  const std::set<std::pair<std::string, std::string>> served(kServedRoutes.begin(), kServedRoutes.end());
  for (const auto& [method, path] : served)
    EXPECT_TRUE(in_document.count({method, path})) << method << " " << path << " is not documented";
  for (const auto& [method, path] : in_document)
    EXPECT_TRUE(served.count({method, path})) << method << " " << path << " is documented but not served";

  std::set<std::string> operation_ids;
  for (const auto& [method, path] : served) {
    if (!documented("/paths/" + escape_token(path) + "/" + method)) continue;  // reported above
    const json& operation = doc["paths"][path][method];
    EXPECT_FALSE(operation.value("summary", "").empty()) << method << " " << path;
    const std::string id = operation.value("operationId", "");
    EXPECT_FALSE(id.empty()) << method << " " << path;
    EXPECT_TRUE(operation_ids.insert(id).second) << "operationId " << id << " is used twice";
    ASSERT_TRUE(operation.contains("responses")) << method << " " << path;
    for (const auto& [status, response] : operation["responses"].items()) {
      const json& resolved = doc.at(json::json_pointer(response_at(method, path, std::stoi(status))));
      EXPECT_FALSE(resolved.value("description", "").empty()) << method << " " << path << " " << status;
    }
    // Path templates name their parameters.
    if (path.find("{id}") != std::string::npos) {
      bool declared = false;
      const std::size_t count = doc["paths"][path].value("parameters", json::array()).size();
      for (std::size_t i = 0; i < count; ++i) {
        const json& parameter =
            doc.at(json::json_pointer(follow("/paths/" + escape_token(path) + "/parameters/" + std::to_string(i))));
        declared = declared || (parameter.value("name", "") == "id" && parameter.value("in", "") == "path" &&
                                parameter.value("required", false));
      }
      EXPECT_TRUE(declared) << path << " does not declare its {id} parameter";
    }
  }
}

TEST(OpenApi, TheV1RoutesNeedABearerKeyAndTheProbesNone) {
  const json& doc = openapi();
  const json& scheme = doc.at(json::json_pointer("/components/securitySchemes"));
  ASSERT_EQ(scheme.size(), 1u);
  const std::string name = scheme.begin().key();
  const json& bearer_scheme = scheme.begin().value();
  EXPECT_EQ(bearer_scheme.value("type", ""), "http");
  EXPECT_EQ(bearer_scheme.value("scheme", ""), "bearer");
  json requirement = json::object();
  requirement[name] = json::array();
  EXPECT_EQ(doc.value("security", json()), json::array({requirement}));
  for (const auto& [method, path] : kServedRoutes) {
    if (!documented("/paths/" + escape_token(path) + "/" + method)) continue;  // reported above
    const json& operation = doc["paths"][path][method];
    if (path.rfind("/v1/", 0) == 0) {
      EXPECT_FALSE(operation.contains("security")) << method << " " << path << " overrides the API key requirement";
      EXPECT_TRUE(documented(response_at(method, path, 401))) << method << " " << path << " does not document 401";
    } else {
      EXPECT_EQ(operation.value("security", json()), json::array()) << method << " " << path << " should need no key";
    }
  }
}

TEST(OpenApi, EveryRefResolvesAndEverySchemaIsUsableByOurValidator) {
  const json& doc = openapi();
  // Every "$ref" anywhere points at something in the document.
  std::vector<std::pair<std::string, const json*>> todo = {{"", &doc}};
  std::size_t refs = 0;
  while (!todo.empty()) {
    auto [at, node] = todo.back();
    todo.pop_back();
    if (node->is_object()) {
      if (auto ref = node->find("$ref"); ref != node->end() && ref->is_string()) {
        ++refs;
        const std::string target = ref->get<std::string>();
        ASSERT_EQ(target.rfind("#/", 0), 0u) << at << ": " << target;
        EXPECT_TRUE(documented(target.substr(1))) << at << ": $ref " << target << " does not resolve";
      }
      for (const auto& [key, value] : node->items()) todo.emplace_back(at + "/" + escape_token(key), &value);
    } else if (node->is_array()) {
      for (std::size_t i = 0; i < node->size(); ++i) todo.emplace_back(at + "/" + std::to_string(i), &(*node)[i]);
    }
  }
  EXPECT_GT(refs, 50u);
  // Each component schema passes check_schema with the document as its root (so its $refs resolve).
  for (const auto& [name, schema] : doc.at(json::json_pointer("/components/schemas")).items()) {
    json root = doc;
    root["$ref"] = "#/components/schemas/" + escape_token(name);
    auto problem = check_schema(root);
    EXPECT_FALSE(problem.has_value()) << name << ": " << problem->to_string();
  }
}

TEST(OpenApi, TheDocumentsExamplesMatchTheirOwnSchemas) {
  const json& doc = openapi();
  std::size_t checked = 0;
  // Examples of component schemas.
  for (const auto& [name, schema] : doc.at(json::json_pointer("/components/schemas")).items())
    for (const auto& example : schema.value("examples", json::array())) {
      EXPECT_MATCHES(component(name), example);
      ++checked;
    }
  // Examples of every JSON body and of every event stream, request and response alike.
  std::vector<std::string> media;
  for (const auto& [method, path] : kServedRoutes) {
    const std::string operation = "/paths/" + escape_token(path) + "/" + method;
    if (!documented(operation)) continue;  // see TheDocumentIsOpenApi31AndDocumentsExactlyTheRoutesTheAppServes
    const json& op = doc.at(json::json_pointer(operation));
    if (op.contains("requestBody")) media.push_back(operation + "/requestBody/content/application~1json");
    for (const auto& [status, response] : op["responses"].items()) {
      const std::string at = response_at(method, path, std::stoi(status));
      const json contents = doc.at(json::json_pointer(at)).value("content", json::object());
      for (const auto& [type, content] : contents.items()) media.push_back(at + "/content/" + escape_token(type));
    }
  }
  for (const auto& at : media) {
    const json& content = doc.at(json::json_pointer(at));
    if (!content.contains("example")) continue;
    ++checked;
    if (at.ends_with("text~1event-stream")) {
      ASSERT_TRUE(content.contains("x-sse-data")) << at;
      for (const auto& frame : sse_frames(content["example"].get<std::string>())) {
        if (frame.data == "[DONE]") continue;
        EXPECT_MATCHES(at + "/x-sse-data", json::parse(frame.data));
      }
    } else {
      EXPECT_MATCHES(at + "/schema", content["example"]);
    }
  }
  EXPECT_GT(checked, 20u);
}

// ---- Routes against a live server ---------------------------------------------------------------

TEST(OpenApi, EveryDocumentedRouteIsAnsweredByTheServerNotWithNoRoute) {
  ServeFixture f(test_spec());
  const std::string run = run_id_of(finished_run(f, "demo/calc"));
  const std::map<std::string, std::string> concrete = {
      {"/v1/runs/{id}", "/v1/runs/" + run},
      {"/v1/runs/{id}/cancel", "/v1/runs/" + run + "/cancel"},
      {"/v1/runs/{id}/events", "/v1/runs/" + run + "/events"},
      {"/v1/models/{id}", "/v1/models/demo/calc"},
  };
  const std::map<std::string, json> bodies = {
      {"/v1/runs", {{"target", "demo"}, {"input", "hi"}}},
      {"/v1/runs/{id}/cancel", json::object()},
      {"/v1/chat/completions", chat_body("demo/chat", "hi")},
  };
  for (const auto& [method, path] : kServedRoutes) {
    const std::string url = concrete.count(path) ? concrete.at(path) : path;
    const auto reply = method == "get" ? f.get(url) : f.post(url, bodies.at(path));
    const json body = reply.json();
    const bool no_route = reply.status == 404 && body.is_object() && body.contains("error") &&
                          body["error"].value("code", "") == "not_found";
    EXPECT_FALSE(no_route) << method << " " << url << ": " << reply.body;
    EXPECT_LT(reply.status, 300) << method << " " << url << ": " << reply.body;
    EXPECT_TRUE(documented(response_at(method, path, static_cast<int>(reply.status))))
        << method << " " << url << " answered an undocumented " << reply.status;
  }
  // The WebSocket upgrade on the events path is answered 101, as documented.
  WsClient ws(f.port());
  const auto head = ws.handshake("/v1/runs/" + run + "/events", kAliceKey);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
  EXPECT_TRUE(documented(response_at("get", "/v1/runs/{id}/events", 101)));
}

TEST(OpenApi, MethodsADocumentedV1PathDoesNotTakeAreAnswered405WithTheDocumentedMethodsInAllow) {
  ServeFixture f(test_spec());
  const std::string run = run_id_of(finished_run(f, "demo"));
  std::map<std::string, std::set<std::string>> methods;  // per served path
  for (const auto& [method, path] : kServedRoutes) methods[path].insert(method);
  for (const auto& [path, allowed] : methods) {
    if (path.rfind("/v1/", 0) != 0) continue;
    std::string url = path;
    if (auto at = url.find("{id}"); at != std::string::npos)
      url.replace(at, 4, path.rfind("/v1/models", 0) == 0 ? "demo/chat" : run);
    std::string allow;  // "GET, POST": the documented methods, upper-case, in this order
    for (const char* m : {"get", "post"})
      if (allowed.count(m))
        allow += std::string(allow.empty() ? "" : ", ") + (m == std::string("get") ? "GET" : "POST");
    for (const std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
      std::string lower = method;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (allowed.count(lower)) continue;
      const auto reply = http_call(method, f.url(url), method == "DELETE" ? "" : "{}", bearer(kAliceKey));
      SCOPED_TRACE(method + " " + url);
      // Documented under each operation of the path (the answer to a method the path does not take).
      expect_documented_error(*allowed.begin(), path, 405, reply, "method_not_allowed");
      EXPECT_EQ(reply.headers.count("allow") ? reply.headers.at("allow") : "", allow);
    }
  }
}

TEST(OpenApi, PathsThatAreNotDocumentedAreAnswered404NoRouteWithTheErrorSchema) {
  ServeFixture f(test_spec());
  for (const std::string path : {"/", "/v1", "/v1/nothing", "/v2/runs", "/v1/runs/a/b/c", "/v1/chat/other"}) {
    const auto reply = f.get(path);
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_MATCHES(component("Error"), reply.json());
    EXPECT_EQ(reply.json()["error"].value("code", ""), "not_found") << path << ": " << reply.body;
  }
}

// ---- Bodies against their schemas ----------------------------------------------------------------

TEST(OpenApi, HealthAndReadinessMatchTheirSchemasAndShutdownRefusesNewRunsWith503) {
  ServeFixture f(test_spec());
  expect_documented_json("get", "/healthz", 200, http_call("GET", f.url("/healthz")));
  expect_documented_json("get", "/readyz", 200, http_call("GET", f.url("/readyz")));
  f.app().begin_shutdown();
  expect_documented_json("get", "/healthz", 200, http_call("GET", f.url("/healthz")));
  const auto not_ready = http_call("GET", f.url("/readyz"));
  expect_documented_json("get", "/readyz", 503, not_ready);
  EXPECT_EQ(not_ready.json().value("status", ""), "shutting_down");
  expect_documented_error("post", "/v1/runs", 503, f.post("/v1/runs", {{"target", "demo"}, {"input", "hi"}}),
                          "shutting_down");
  expect_documented_error("post", "/v1/chat/completions", 503, f.post("/v1/chat/completions", chat_body("demo", "hi")),
                          "shutting_down");
  // What does not start a run is still answered.
  expect_documented_json("get", "/v1/targets", 200, f.get("/v1/targets"));
}

TEST(OpenApi, TargetsModelsAndAModelWhoseIdHasASlashMatchTheirSchemas) {
  ServeFixture f(test_spec());
  const auto targets = f.get("/v1/targets");
  expect_documented_json("get", "/v1/targets", 200, targets);
  EXPECT_EQ(targets.json()["data"].size(), 5u) << targets.body;  // demo and its four agents
  const auto models = f.get("/v1/models");
  expect_documented_json("get", "/v1/models", 200, models);
  EXPECT_EQ(models.json()["data"].size(), 5u) << models.body;
  for (const std::string url : {"/v1/models/demo", "/v1/models/demo/calc", "/v1/models/demo%2Fcalc"}) {
    SCOPED_TRACE(url);
    const auto model = f.get(url);
    expect_documented_json("get", "/v1/models/{id}", 200, model);
  }
  EXPECT_EQ(f.get("/v1/models/demo%2Fcalc").json().value("id", ""), "demo/calc");
  expect_documented_error("get", "/v1/models/{id}", 404, f.get("/v1/models/demo/nope"), "model_not_found");
}

TEST(OpenApi, RunsStartedSucceededFailedCancelledAndListedMatchTheRunSchema) {
  ServeFixture f(test_spec());
  const auto started = f.post("/v1/runs", {{"target", "demo/calc"}, {"input", "count"}});
  expect_documented_json("post", "/v1/runs", 202, started);
  const std::string id = run_id_of(started);
  EXPECT_EQ(started.headers.count("location") ? started.headers.at("location") : "", "/v1/runs/" + id);

  const auto agent = f.get("/v1/runs/" + id + "?wait=true");
  expect_documented_json("get", "/v1/runs/{id}", 200, agent);
  EXPECT_EQ(agent.json().value("status", ""), "succeeded") << agent.body;
  expect_documented_json("get", "/v1/runs/{id}", 200, f.get("/v1/runs/" + id));  // no wait: the same run

  const auto workflow = finished_run(f, "demo", "hi");
  expect_documented_json("get", "/v1/runs/{id}", 200, workflow);
  EXPECT_EQ(workflow.json()["visited"], json::array({"shout", "answer"})) << workflow.body;

  const auto failed = finished_run(f, "demo/broken");
  expect_documented_json("get", "/v1/runs/{id}", 200, failed);
  EXPECT_EQ(failed.json().value("status", ""), "failed") << failed.body;
  EXPECT_EQ(failed.json()["error"].value("code", ""), "script_exhausted") << failed.body;

  const auto cancel = f.post("/v1/runs/" + id + "/cancel", json::object());
  expect_documented_json("post", "/v1/runs/{id}/cancel", 202, cancel);
  EXPECT_EQ(cancel.json().value("status", ""), "succeeded") << "cancelling a finished run changes nothing";

  const auto list = f.get("/v1/runs");
  expect_documented_json("get", "/v1/runs", 200, list);
  EXPECT_EQ(list.json()["data"].size(), 3u) << list.body;
  EXPECT_EQ(list.json()["data"][2].value("id", ""), id) << "newest first";

  // Tenancy: Bob neither sees nor reaches Alice's run.
  expect_documented_json("get", "/v1/runs", 200, f.get("/v1/runs", kBobKey));
  EXPECT_TRUE(f.get("/v1/runs", kBobKey).json()["data"].empty());
  expect_documented_error("get", "/v1/runs/{id}", 404, f.get("/v1/runs/" + id, kBobKey), "run_not_found");
  expect_documented_error("get", "/v1/runs/{id}", 404, f.get("/v1/runs/" + id + "?wait=true", kBobKey),
                          "run_not_found");
  expect_documented_error("post", "/v1/runs/{id}/cancel", 404,
                          f.post("/v1/runs/" + id + "/cancel", json::object(), kBobKey), "run_not_found");
  expect_documented_error("get", "/v1/runs/{id}/events", 404, f.get("/v1/runs/" + id + "/events", kBobKey),
                          "run_not_found");
}

TEST(OpenApi, ARunningRunAndTheSameRunCancelledMatchTheRunSchema) {
  LongStreamServer model(10, 8, /*hold=*/true);
  ServeFixture f(kHeldSpec, {}, {}, held_environment(model));
  const auto started = f.post("/v1/runs", {{"target", "streams"}, {"input", "go"}});
  expect_documented_json("post", "/v1/runs", 202, started);
  const std::string id = run_id_of(started);
  ASSERT_TRUE(model.wait_for_requests(1));  // its model call is in flight, held

  const auto running = f.get("/v1/runs/" + id);
  expect_documented_json("get", "/v1/runs/{id}", 200, running);
  EXPECT_EQ(running.json().value("status", ""), "running") << running.body;
  expect_documented_json("get", "/v1/runs", 200, f.get("/v1/runs"));
  const auto ready = http_call("GET", f.url("/readyz"));
  expect_documented_json("get", "/readyz", 200, ready);
  EXPECT_EQ(ready.json().value("running", 0), 1) << ready.body;

  expect_documented_json("post", "/v1/runs/{id}/cancel", 202, f.post("/v1/runs/" + id + "/cancel", json::object()));
  const auto cancelled = f.get("/v1/runs/" + id + "?wait=true");
  expect_documented_json("get", "/v1/runs/{id}", 200, cancelled);
  EXPECT_EQ(cancelled.json().value("status", ""), "cancelled") << cancelled.body;
  EXPECT_EQ(cancelled.json()["error"].value("code", ""), "cancelled") << cancelled.body;
}

TEST(OpenApi, AWebSocketClientsCancelMessageEndsTheRunWithDocumentedEvents) {
  LongStreamServer model(10, 8, /*hold=*/true);
  ServeFixture f(kHeldSpec, {}, {}, held_environment(model));
  const std::string id = run_id_of(f.post("/v1/runs", {{"target", "streams/talker"}, {"input", "go"}}));
  ASSERT_TRUE(model.wait_for_requests(1));
  WsClient ws(f.port());
  ASSERT_EQ(ws.handshake("/v1/runs/" + id + "/events", kAliceKey).rfind("HTTP/1.1 101 ", 0), 0u);
  const std::string response = response_at("get", "/v1/runs/{id}/events", 101);
  const json cancel = {{"type", "cancel"}};
  EXPECT_MATCHES(response + "/x-websocket-messages/client", cancel);
  ws.send_text(cancel.dump());
  std::vector<json> events;
  for (;;) {
    auto frame = ws.read_frame();
    ASSERT_TRUE(frame.has_value()) << "the server closed without a close frame";
    if (frame->opcode == 0x8) break;
    const json event = json::parse(frame->payload, nullptr, false);
    EXPECT_MATCHES(response + "/x-websocket-messages/server", event);
    events.push_back(event);
  }
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().value("type", ""), "run_started");
  const json& error = events[events.size() - 2];
  EXPECT_EQ(error.value("type", ""), "error");
  EXPECT_EQ(error["details"], json({{"code", "cancelled"}})) << error.dump();
  EXPECT_EQ(events.back().value("type", ""), "run_finished");
  EXPECT_FALSE(events.back().value("ok", true));
}

TEST(OpenApi, EveryEventOfStreamedRunsMatchesTheRunEventSchemaAndEveryDocumentedKindOccurs) {
  ServeFixture f(test_spec());
  std::set<std::string> kinds;
  for (const std::string target : {"demo", "demo/calc", "demo/broken", "demo/classify"}) {
    SCOPED_TRACE(target);
    const auto reply = f.post("/v1/runs", {{"target", target}, {"input", "count"}, {"stream", true}});
    const auto events = expect_documented_run_events("post", "/v1/runs", reply);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.front().value("type", ""), "run_started");
    EXPECT_EQ(events.back().value("type", ""), "run_finished");
    for (std::size_t k = 0; k < events.size(); ++k) EXPECT_EQ(events[k].value("seq", 0u), k + 1);
    for (const auto& event : events) kinds.insert(event.value("type", ""));

    // The same events again, read by an attached SSE reader.
    const std::string run = reply.headers.count("x-loomflow-run-id") ? reply.headers.at("x-loomflow-run-id") : "";
    const auto again =
        expect_documented_run_events("get", "/v1/runs/{id}/events", f.get("/v1/runs/" + run + "/events"));
    EXPECT_EQ(again, events);
  }
  EXPECT_EQ(kinds, documented_event_kinds());
}

TEST(OpenApi, AnAttachedReaderResumesAfterLastEventIdOrAfterAndRejectsABadPosition) {
  ServeFixture f(test_spec());
  const std::string run = run_id_of(finished_run(f, "demo/calc"));
  const std::string path = "/v1/runs/" + run + "/events";
  const auto after = expect_documented_run_events("get", "/v1/runs/{id}/events", f.get(path + "?after=3"));
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front().value("seq", 0), 4);
  auto headers = bearer(kAliceKey);
  headers.push_back("Last-Event-ID: 4");
  const auto resumed = expect_documented_run_events("get", "/v1/runs/{id}/events",
                                                    http_call("GET", f.url(path + "?after=1"), "", headers));
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front().value("seq", 0), 5) << "Last-Event-ID takes precedence over after";
  expect_documented_error("get", "/v1/runs/{id}/events", 400, f.get(path + "?after=abc"), "invalid_field");
}

TEST(OpenApi, AReaderThatFellOutOfTheHistoryFirstGetsTheDocumentedEventsDroppedError) {
  serve::AppOptions options;
  options.hub.history_events = 2;
  ServeFixture f(test_spec(), options);
  const std::string run = run_id_of(finished_run(f, "demo/calc"));  // 5 events; the last 2 are kept
  const auto reply = f.get("/v1/runs/" + run + "/events");
  const auto events = expect_documented_run_events("get", "/v1/runs/{id}/events", reply);
  ASSERT_EQ(events.size(), 3u) << reply.body;
  EXPECT_EQ(events[0].value("type", ""), "error");
  EXPECT_EQ(events[0].value("seq", -1), 0);
  EXPECT_EQ(events[0]["details"], json({{"code", "events_dropped"}}));
  EXPECT_EQ(events[1].value("seq", 0), 4);
  EXPECT_EQ(events[2].value("type", ""), "run_finished");
}

TEST(OpenApi, EventsOverAWebSocketAreOneRunEventPerTextMessageThenClose1000) {
  ServeFixture f(test_spec());
  const std::string run = run_id_of(finished_run(f, "demo/calc"));
  WsClient ws(f.port());
  const auto head = ws.handshake("/v1/runs/" + run + "/events", kAliceKey);
  ASSERT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
  const auto response = response_at("get", "/v1/runs/{id}/events", 101);
  const std::string message_schema = response + "/x-websocket-messages/server";
  ASSERT_TRUE(documented(message_schema));
  std::vector<std::string> kinds;
  for (;;) {
    auto frame = ws.read_frame();
    ASSERT_TRUE(frame.has_value()) << "the server closed without a close frame";
    if (frame->opcode == 0x8) {  // close
      ASSERT_GE(frame->payload.size(), 2u);
      EXPECT_EQ((static_cast<unsigned char>(frame->payload[0]) << 8) | static_cast<unsigned char>(frame->payload[1]),
                1000);
      break;
    }
    ASSERT_EQ(frame->opcode, 0x1) << "events are text messages";
    EXPECT_TRUE(frame->fin);
    const json event = json::parse(frame->payload, nullptr, false);
    EXPECT_MATCHES(message_schema, event);
    kinds.push_back(event.value("type", ""));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"run_started", "tool_call_started", "tool_call_finished", "text_delta",
                                             "run_finished"}));
  EXPECT_TRUE(schema_problem(response + "/x-websocket-messages/client", {{"type", "cancel"}}).empty());
}

TEST(OpenApi, ChatCompletionsAndEveryStreamedChunkMatchTheirSchemas) {
  ServeFixture f(test_spec());
  const std::string path = "/v1/chat/completions";
  for (const std::string model : {"demo/calc", "demo/chat", "demo"}) {
    SCOPED_TRACE(model);
    const auto whole = f.post(path, chat_body(model, "count"));
    expect_documented_json("post", path, 200, whole);
    const std::string content = whole.json()["choices"][0]["message"].value("content", "");

    for (const bool include_usage : {false, true}) {
      SCOPED_TRACE(include_usage ? "include_usage" : "without usage");
      json body = chat_body(model, "count", true);
      if (include_usage) body["stream_options"] = {{"include_usage", true}};
      EXPECT_MATCHES(component("ChatCompletionRequest"), body);
      const auto reply = f.post(path, body);
      ASSERT_EQ(reply.status, 200) << reply.body;
      const std::string response = response_at("post", path, 200);
      expect_documented_headers(response, reply);
      const std::string data_schema = response + "/content/text~1event-stream/x-sse-data";
      ASSERT_TRUE(documented(data_schema));
      const auto frames = sse_frames(reply.body);
      ASSERT_GE(frames.size(), 3u) << reply.body;
      EXPECT_EQ(frames.back().data,
                openapi()
                    .at(json::json_pointer(response + "/content/text~1event-stream/x-sse-terminator"))
                    .get<std::string>());
      std::string streamed;
      json last;
      for (std::size_t k = 0; k + 1 < frames.size(); ++k) {
        const json chunk = json::parse(frames[k].data, nullptr, false);
        EXPECT_MATCHES(data_schema, chunk);
        EXPECT_MATCHES(component("ChatCompletionChunk"), chunk);
        EXPECT_EQ(chunk.contains("usage"), include_usage) << chunk.dump();
        for (const auto& choice : chunk.value("choices", json::array()))
          streamed += choice["delta"].value("content", "");
        last = chunk;
      }
      EXPECT_EQ(streamed, content) << "the streamed text is the completion's content";
      if (include_usage) {
        EXPECT_TRUE(last["choices"].empty()) << last.dump();
        EXPECT_MATCHES(component("ChatCompletionUsage"), last["usage"]);
      }
    }
  }
}

TEST(OpenApi, AFailingRunIsADocumented500OrAnErrorFrameInTheChunkStream) {
  ServeFixture f(test_spec());
  const std::string path = "/v1/chat/completions";
  expect_documented_error("post", path, 500, f.post(path, chat_body("demo/broken", "hi")), "script_exhausted");
  const auto reply = f.post(path, chat_body("demo/broken", "hi", true));
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto frames = sse_frames(reply.body);
  ASSERT_EQ(frames.size(), 3u) << reply.body;  // the role chunk, the error, [DONE]
  const std::string data_schema = response_at("post", path, 200) + "/content/text~1event-stream/x-sse-data";
  EXPECT_MATCHES(data_schema, json::parse(frames[0].data));
  const json error = json::parse(frames[1].data);
  EXPECT_MATCHES(data_schema, error);
  EXPECT_MATCHES(component("Error"), error);
  EXPECT_EQ(error["error"].value("code", ""), "script_exhausted");
  EXPECT_EQ(frames[2].data, "[DONE]");
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(OpenApi, ErrorsOfRejectedRequestsMatchTheDocumentedErrorResponses) {
  ServeFixture f(test_spec());
  const std::string runs = "/v1/runs", chat = "/v1/chat/completions";
  auto raw_post = [&](const std::string& path, const std::string& body, std::vector<std::string> headers) {
    return http_call("POST", f.url(path), body, headers);
  };
  // 400: the body, then the fields.
  expect_documented_error("post", runs, 400, raw_post(runs, "{\"target\":", bearer(kAliceKey)), "invalid_json");
  expect_documented_error("post", runs, 400, raw_post(runs, "[1, 2]", bearer(kAliceKey)), "invalid_json");
  expect_documented_error("post", runs, 400, f.post(runs, {{"input", "hi"}}), "missing_field");
  expect_documented_error("post", runs, 400, f.post(runs, {{"target", "demo"}}), "missing_field");
  expect_documented_error("post", runs, 400,
                          f.post(runs, {{"target", "demo"}, {"input", "hi"}, {"on_disconnect", "stay"}}),
                          "invalid_field");
  expect_documented_error("post", chat, 400, raw_post(chat, "nope", bearer(kAliceKey)), "invalid_json");
  const json chat_400[] = {
      {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}},
      {{"model", "demo"}, {"messages", json::array()}},
      {{"model", "demo"}, {"n", 2}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}},
      {{"model", "demo"}, {"stream", "yes"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}},
      {{"model", "demo"},
       {"messages", json::array({{{"role", "tool"}, {"content", "x"}}, {{"role", "user"}, {"content", "hi"}}})}},
      {{"model", "demo"},
       {"messages", json::array({{{"role", "user"}, {"content", json::array({{{"type", "image_url"}}})}}})}},
      {{"model", "demo"},
       {"messages", json::array({{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "x"}}})}},
  };
  for (const auto& body : chat_400) {
    SCOPED_TRACE(body.dump());
    expect_documented_error("post", chat, 400, f.post(chat, body), "invalid_request");
  }
  // 401 on every /v1 operation, without a key and with an unknown one.
  for (const auto& [method, path] : kServedRoutes) {
    if (path.rfind("/v1/", 0) != 0) continue;
    std::string url = path;
    if (auto at = url.find("{id}"); at != std::string::npos) url.replace(at, 4, "demo");
    SCOPED_TRACE(method + " " + url);
    const std::string upper = method == "get" ? "GET" : "POST";
    expect_documented_error(
        method, path, 401,
        http_call(upper, f.url(url), method == "get" ? "" : "{}", {"Content-Type: application/json"}),
        "missing_api_key");
    expect_documented_error(
        method, path, 401, http_call(upper, f.url(url), method == "get" ? "" : "{}", bearer("sk-unknown-000000000000")),
        "invalid_api_key");
  }
  // 404: names that do not exist.
  expect_documented_error("post", runs, 404, f.post(runs, {{"target", "nope"}, {"input", "hi"}}), "target_not_found");
  expect_documented_error("post", chat, 404, f.post(chat, chat_body("nope", "hi")), "model_not_found");
  for (const std::string suffix : {"", "/events"}) {
    const std::string templated = "/v1/runs/{id}" + suffix;
    expect_documented_error("get", templated, 404, f.get("/v1/runs/run-00000000000000000000" + suffix),
                            "run_not_found");
  }
  expect_documented_error("post", "/v1/runs/{id}/cancel", 404,
                          f.post("/v1/runs/run-00000000000000000000/cancel", json::object()), "run_not_found");
  // 415: a body that is not declared JSON.
  const std::vector<std::string> text_plain = {"Authorization: Bearer " + kAliceKey, "Content-Type: text/plain"};
  expect_documented_error("post", runs, 415, raw_post(runs, "{}", text_plain), "unsupported_media_type");
  expect_documented_error("post", chat, 415, raw_post(chat, "{}", {"Authorization: Bearer " + kAliceKey}),
                          "unsupported_media_type");
}

TEST(OpenApi, ABodyAboveTheLimitIsTheDocumented413OfTheHttpLayer) {
  serve::http::ServerOptions small;
  small.max_body_bytes = 256;
  ServeFixture f(test_spec(), {}, small);
  const std::string big(400, 'x');
  expect_documented_error("post", "/v1/runs", 413, f.post("/v1/runs", {{"target", "demo"}, {"input", big}}),
                          "request_too_large");
  expect_documented_error("post", "/v1/chat/completions", 413, f.post("/v1/chat/completions", chat_body("demo", big)),
                          "request_too_large");
  // Within the limit the same server answers as usual.
  EXPECT_EQ(f.post("/v1/runs", {{"target", "demo"}, {"input", "hi"}}).status, 202);
}

TEST(OpenApi, TheRequestSchemasAcceptWhatTheServerTakesAndRejectWhatItRefusesWith400) {
  const std::string run_request = component("RunCreateRequest");
  EXPECT_MATCHES(run_request, json({{"target", "demo"}, {"input", "hi"}}));
  EXPECT_MATCHES(run_request,
                 json({{"target", "demo"}, {"input", "hi"}, {"stream", true}, {"on_disconnect", "detach"}}));
  for (const json& refused :
       {json({{"input", "hi"}}), json({{"target", "demo"}}), json({{"target", 1}, {"input", "hi"}}),
        json({{"target", "demo"}, {"input", "hi"}, {"on_disconnect", "stay"}}), json::array()})
    EXPECT_FALSE(schema_problem(run_request, refused).empty()) << refused.dump();

  const std::string chat_request = component("ChatCompletionRequest");
  const json user = {{"role", "user"}, {"content", "hi"}};
  EXPECT_MATCHES(chat_request, json({{"model", "demo"}, {"messages", json::array({user})}}));
  EXPECT_MATCHES(
      chat_request,
      json({{"model", "demo"},
            {"n", 1},
            {"temperature", 0.2},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}},
            {"messages", json::array({json({{"role", "system"}, {"content", "Be brief."}}),
                                      json({{"role", "developer"}, {"content", nullptr}}),
                                      json({{"role", "assistant"},
                                            {"content", json::array({json({{"type", "text"}, {"text", "a"}})})}}),
                                      user})}}));
  const json tool = {{"role", "tool"}, {"content", "x"}};
  const json image = {{"role", "user"}, {"content", json::array({json({{"type", "image_url"}})})}};
  for (const json& refused :
       {json({{"messages", json::array({user})}}), json({{"model", "demo"}, {"messages", json::array()}}),
        json({{"model", "demo"}, {"n", 2}, {"messages", json::array({user})}}),
        json({{"model", "demo"}, {"stream", "yes"}, {"messages", json::array({user})}}),
        json({{"model", "demo"}, {"messages", json::array({tool, user})}}),
        json({{"model", "demo"}, {"messages", json::array({image})}})})
    EXPECT_FALSE(schema_problem(chat_request, refused).empty()) << refused.dump();
}

}  // namespace
}  // namespace loomflow::testing
