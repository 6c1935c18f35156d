// The HTTP/1.1 server under `loomflow serve`, over real loopback sockets (libcurl and a raw-socket
// client): requests and keep-alive, pipelining, 100-continue, chunked bodies, every error it
// answers itself, streamed responses with flow control, disconnects, 1,000 concurrent streams,
// handler exceptions, shutdown, descriptor hygiene and connection limits.
// Waits are on conditions, futures and socket reads; timeouts are only safety nets.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "loomflow/serve/http/server.hpp"
#include "loopback_socket.hpp"
#include "server_test_support.hpp"

using loomflow::ErrorCode;
using loomflow::serve::http::ExchangePtr;
using loomflow::serve::http::Handler;
using loomflow::serve::http::Headers;
using loomflow::serve::http::Request;
using loomflow::serve::http::Response;
using loomflow::serve::http::Server;
using loomflow::serve::http::ServerOptions;
using namespace std::chrono_literals;

using loomflow::testing::Mailbox;
using loomflow::testing::start_server;

namespace {

constexpr auto kSafety = 20s;  // only ever hit when a test is failing

// ---- a raw HTTP client ----

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool chunked = false;

  std::string header(const std::string& name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
  bool has_header(const std::string& name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return true;
    }
    return false;
  }
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Parses one response from the front of `buffer` and removes it; nullopt while incomplete.
// A response without Content-Length or chunking ends at EOF (`eof`).
std::optional<HttpResponse> take_response(std::string& buffer, bool eof, bool head_request = false) {
  const std::size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  HttpResponse response;
  std::size_t line_end = buffer.find("\r\n");
  const std::string status_line = buffer.substr(0, line_end);
  response.status = std::stoi(status_line.substr(9, 3));
  std::size_t at = line_end + 2;
  while (at < head_end) {
    line_end = buffer.find("\r\n", at);
    const std::string line = buffer.substr(at, line_end - at);
    const std::size_t colon = line.find(':');
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    response.headers.emplace_back(lower(line.substr(0, colon)), value);
    at = line_end + 2;
  }
  std::size_t body_start = head_end + 4;
  const bool no_body = head_request || response.status / 100 == 1 || response.status == 204 || response.status == 304;
  if (no_body) {
    buffer.erase(0, body_start);
    return response;
  }
  if (response.has_header("content-length")) {
    const std::size_t length = std::stoul(response.header("content-length"));
    if (buffer.size() < body_start + length) return std::nullopt;
    response.body = buffer.substr(body_start, length);
    buffer.erase(0, body_start + length);
    return response;
  }
  if (lower(response.header("transfer-encoding")) == "chunked") {
    response.chunked = true;
    std::size_t pos = body_start;
    while (true) {
      const std::size_t size_end = buffer.find("\r\n", pos);
      if (size_end == std::string::npos) return std::nullopt;
      const std::size_t size = std::stoul(buffer.substr(pos, size_end - pos), nullptr, 16);
      if (size == 0) {
        if (buffer.size() < size_end + 4) return std::nullopt;  // no trailers from our server
        buffer.erase(0, size_end + 4);
        return response;
      }
      if (buffer.size() < size_end + 2 + size + 2) return std::nullopt;
      response.body += buffer.substr(size_end + 2, size);
      pos = size_end + 2 + size + 2;
    }
  }
  if (!eof) return std::nullopt;
  response.body = buffer.substr(body_start);
  buffer.clear();
  return response;
}

// A loopback client that also reads HTTP responses.
class RawClient : public loomflow::testing::LoopbackSocket {
 public:
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) : LoopbackSocket(port, receive_buffer, kSafety) {}

  std::optional<HttpResponse> read_response(bool head_request = false) {
    while (true) {
      if (auto response = take_response(buffer_, eof_, head_request)) return response;
      if (eof_ || !read_more()) return take_response(buffer_, eof_, head_request);
    }
  }

  // True when the server closes the connection (EOF or reset) with no bytes beyond the buffer.
  bool closed_by_server() {
    const std::size_t before = buffer_.size();
    while (read_more()) {
    }
    return eof_ && buffer_.size() == before;
  }
};

// ---- libcurl ----

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;
  std::string body;
};

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

void init_curl_once() {
  static const bool initialized = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  ASSERT_TRUE(initialized);
}

CURL* new_curl_handle(const std::string& url) {
  init_curl_once();
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::chrono::milliseconds(kSafety).count()));
  return curl;
}

CurlResult curl_perform(CURL* curl) {
  CurlResult result;
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  result.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

CurlResult curl_get(const std::string& url) {
  CURL* curl = new_curl_handle(url);
  CurlResult result = curl_perform(curl);
  curl_easy_cleanup(curl);
  return result;
}

CurlResult curl_post(const std::string& url, const std::string& body, const std::string& content_type) {
  CURL* curl = new_curl_handle(url);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CurlResult result = curl_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

// ---- synchronisation ----

// Polls a condition that has no notification of its own (e.g. open_connections()).
template <class Predicate>
bool eventually(Predicate predicate) {
  const auto give_up = std::chrono::steady_clock::now() + kSafety;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

Handler answer_with_path() {
  return [](ExchangePtr exchange) {
    exchange->respond(Response{200, {{"Content-Type", "text/plain"}}, "you asked for " + exchange->request().path});
  };
}

std::string url(const Server& server, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + path;
}

std::size_t open_descriptor_count() {
  std::size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory stream itself
}

// A server error: JSON body with the OpenAI-style shape, and the connection closed after it.
void expect_json_error(RawClient& client, int status, const std::string& code,
                       const std::string& message_part = {}) {
  auto response = client.read_response();
  ASSERT_TRUE(response) << "no response; got: " << client.buffer();
  EXPECT_EQ(response->status, status) << response->body;
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(lower(response->header("connection")), "close");
  const auto body = nlohmann::json::parse(response->body);
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["code"], code);
  EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  if (!message_part.empty()) {
    EXPECT_NE(body["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << body["error"]["message"];
  }
  EXPECT_TRUE(client.closed_by_server());
}

}  // namespace

// ---- requests ----

TEST(HttpServer, AnswersAGetOverCurl) {
  auto server = start_server(answer_with_path());
  const CurlResult result = curl_get(url(*server, "/greeting"));
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "you asked for /greeting");
  EXPECT_NE(result.headers.find("Content-Length: 23\r\n"), std::string::npos) << result.headers;
  EXPECT_NE(result.headers.find("Date: "), std::string::npos) << result.headers;
  EXPECT_NE(result.headers.find("Content-Type: text/plain\r\n"), std::string::npos) << result.headers;
}

TEST(HttpServer, GivesAPostsBodyAndRequestFieldsToTheHandler) {
  Mailbox<Request> seen;
  auto server = start_server([&](ExchangePtr exchange) {
    seen.push(exchange->request());
    exchange->respond(Response{201, {{"Content-Type", "application/json"}}, exchange->request().body});
  });
  const std::string body = R"({"model":"m","messages":[]})";
  const CurlResult result = curl_post(url(*server, "/v1/chat%20x?stream=true&n=2"), body, "application/json");
  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 201);
  EXPECT_EQ(result.body, body);
  const Request request = seen.pop();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/chat x");
  EXPECT_EQ(request.query_param("stream"), "true");
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.remote_address.rfind("127.0.0.1:", 0), 0u) << request.remote_address;
}

TEST(HttpServer, AnswersARawSocketGetWithContentLengthAndDate) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  client.send("GET /raw HTTP/1.1\r\nHost: x\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "you asked for /raw");
  EXPECT_EQ(response->header("content-length"), "18");
  EXPECT_TRUE(response->has_header("date"));
  EXPECT_FALSE(response->has_header("connection"));  // HTTP/1.1 keeps the connection by default
}

TEST(HttpServer, AnswersAHeadRequestWithTheLengthButNoBody) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("HEAD /h HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
  auto head = client.read_response(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("content-length"), "16");
  auto next = client.read_response();  // proves no body bytes came between
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "you asked for /after");
}

TEST(HttpServer, ServesSeveralRequestsOnOneKeepAliveConnection) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  for (int i = 0; i < 5; ++i) {
    client.send("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body, "you asked for /" + std::to_string(i));
  }
  EXPECT_EQ(server->open_connections(), 1u);
}

TEST(HttpServer, CurlReusesTheKeptAliveConnection) {
  auto server = start_server(answer_with_path());
  CURL* curl = new_curl_handle(url(*server, "/one"));
  ASSERT_EQ(curl_perform(curl).body, "you asked for /one");
  curl_easy_setopt(curl, CURLOPT_URL, url(*server, "/two").c_str());
  ASSERT_EQ(curl_perform(curl).body, "you asked for /two");
  long new_connections = -1;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &new_connections);
  EXPECT_EQ(new_connections, 0);
  curl_easy_cleanup(curl);
}

TEST(HttpServer, AnswersPipelinedRequestsInOrderOneAtATime) {
  Mailbox<ExchangePtr> exchanges;
  std::atomic<int> answered{0};
  std::vector<int> answered_when_handled;
  std::mutex mutex;
  auto server = start_server([&](ExchangePtr exchange) {
    {
      std::lock_guard lock(mutex);
      answered_when_handled.push_back(answered.load());
    }
    exchanges.push(exchange);
  });
  RawClient client(server->port());
  client.send("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n\r\n");
  for (int i = 1; i <= 3; ++i) {
    ExchangePtr exchange = exchanges.pop();
    ASSERT_TRUE(exchange);
    EXPECT_EQ(exchange->request().path, "/" + std::to_string(i));
    answered = i;  // before respond(): the next request may only be handled after it went out
    exchange->respond(Response{200, {}, exchange->request().path + exchange->request().body});
  }
  for (const char* expected : {"/1", "/2abc", "/3"}) {
    auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, expected);
  }
  std::lock_guard lock(mutex);
  EXPECT_EQ(answered_when_handled, (std::vector<int>{0, 1, 2}));
}

TEST(HttpServer, ClosesAnHttp10ConnectionAfterTheResponse) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET /old HTTP/1.0\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "you asked for /old");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.closed_by_server());
}

TEST(HttpServer, KeepsAnHttp10ConnectionThatAsksForKeepAlive) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  for (int i = 0; i < 2; ++i) {
    client.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(lower(response->header("connection")), "keep-alive");
  }
}

TEST(HttpServer, HonoursConnectionClose) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.closed_by_server());
}

TEST(HttpServer, SendsContinueBeforeTheBodyOfAnExpectRequest) {
  auto server = start_server([](ExchangePtr exchange) { exchange->respond(Response{200, {}, exchange->request().body}); });
  RawClient client(server->port());
  client.send("POST /upload HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  client.send("hello");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
}

TEST(HttpServer, AnswersAnExpectRequestWithATooLargeBodyWith413Directly) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("POST /upload HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
  expect_json_error(client, 413, "request_too_large", "request body of 2000000 bytes exceeds the limit of 1048576 bytes");
}

TEST(HttpServer, DechunksAChunkedRequestBody) {
  auto server = start_server([](ExchangePtr exchange) { exchange->respond(Response{200, {}, exchange->request().body}); });
  RawClient client(server->port());
  client.send("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n");
  client.send("A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "abc0123456789");
}

// ---- errors the server answers itself ----

TEST(HttpServer, AnswersAMalformedRequestLineWith400) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET / HTTP/1.1 extra\r\n\r\n");
  expect_json_error(client, 400, "malformed_request_line", "malformed request line");
}

TEST(HttpServer, AnswersAnEncodedNulInThePathWith400) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET /a%00 HTTP/1.1\r\n\r\n");
  expect_json_error(client, 400, "invalid_path", "%00");
}

TEST(HttpServer, AnswersContentLengthWithTransferEncodingWith400) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  expect_json_error(client, 400, "conflicting_framing");
}

TEST(HttpServer, AnswersAnIncompleteRequestAfterTheRequestTimeoutWith408) {
  ServerOptions options;
  options.request_timeout = 200ms;
  auto server = start_server(answer_with_path(), options);
  RawClient client(server->port());
  client.send("GET /slow HTTP/1.1\r\nHost: ");
  expect_json_error(client, 408, "request_timeout", "200 ms");
}

TEST(HttpServer, AnswersAPostWithoutLengthWith411) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("POST /x HTTP/1.1\r\n\r\n");
  expect_json_error(client, 411, "length_required", "Content-Length");
}

TEST(HttpServer, AnswersATooLargeBodyWith413AndCloses) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("POST /x HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
  client.send(std::string(256 * 1024, 'b'));  // the client is still sending when refused
  expect_json_error(client, 413, "request_too_large", "request body of 2000000 bytes exceeds the limit of 1048576 bytes");
}

TEST(HttpServer, AnswersATooLargeChunkedBodyWith413) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  auto server = start_server(answer_with_path(), options);
  RawClient client(server->port());
  client.send("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + std::string(256, 'a') + "\r\n");
  client.send("400\r\n");
  expect_json_error(client, 413, "request_too_large", "exceeds the limit of 1000 bytes");
}

TEST(HttpServer, AnswersTooLargeHeadersWith431) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n");
  expect_json_error(client, 431, "headers_too_large", "16384 bytes");
}

TEST(HttpServer, AnswersAnUnknownTransferEncodingWith501) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  expect_json_error(client, 501, "unsupported_transfer_encoding", "gzip");
}

TEST(HttpServer, AnswersAnUnsupportedHttpVersionWith505) {
  auto server = start_server(answer_with_path());
  RawClient client(server->port());
  client.send("GET / HTTP/2.0\r\n\r\n");
  expect_json_error(client, 505, "http_version_not_supported", "HTTP/2.0");
}

TEST(HttpServer, ClosesAnIdleKeepAliveConnectionSilently) {
  ServerOptions options;
  options.idle_timeout = 100ms;
  auto server = start_server(answer_with_path(), options);
  RawClient client(server->port());
  client.send("GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(client.read_response());
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_TRUE(client.buffer().empty());
}

TEST(HttpServer, AnswersAThrowingHandlerWith500AndKeepsServing) {
  auto server = start_server([](ExchangePtr exchange) {
    if (exchange->request().path == "/boom") throw std::runtime_error("secret detail");
    exchange->respond(Response{200, {}, "fine"});
  });
  const CurlResult failed = curl_get(url(*server, "/boom"));
  EXPECT_EQ(failed.status, 500);
  const auto body = nlohmann::json::parse(failed.body);
  EXPECT_EQ(body["error"]["code"], "internal_error");
  EXPECT_EQ(body["error"]["message"].get<std::string>().find("secret"), std::string::npos);  // no internals leak
  EXPECT_EQ(curl_get(url(*server, "/ok")).body, "fine");
}

// ---- answering later, streaming, flow control ----

TEST(HttpServer, LetsAHandlerAnswerLaterFromAnotherThread) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) { exchanges.push(exchange); });
  std::thread worker([&] {
    ExchangePtr exchange = exchanges.pop();
    if (exchange) exchange->respond(Response{202, {}, "later from " + exchange->request().path});
  });
  const CurlResult result = curl_get(url(*server, "/async"));
  worker.join();
  EXPECT_EQ(result.status, 202);
  EXPECT_EQ(result.body, "later from /async");
}

TEST(HttpServer, StreamsAChunkedResponseThatCurlReadsIncrementally) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->start_stream(200, {{"Content-Type", "text/event-stream"}});
    exchanges.push(exchange);
  });
  std::mutex mutex;
  std::condition_variable received_more;
  struct Sink {
    std::mutex* mutex;
    std::condition_variable* cv;
    std::string text;
  } sink{&mutex, &received_more, {}};
  CurlResult result;
  std::thread reader([&] {
    CURL* curl = new_curl_handle(url(*server, "/events"));
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_to_string);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                     +[](char* data, std::size_t size, std::size_t count, void* target) -> std::size_t {
                       auto* s = static_cast<Sink*>(target);
                       {
                         std::lock_guard lock(*s->mutex);
                         s->text.append(data, size * count);
                       }
                       s->cv->notify_all();
                       return size * count;
                     });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    result.code = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
  });
  ExchangePtr exchange = exchanges.pop();
  ASSERT_TRUE(exchange);
  std::string expected;
  for (int i = 0; i < 5; ++i) {
    const std::string event = "data: event " + std::to_string(i) + "\n\n";
    expected += event;
    ASSERT_TRUE(exchange->write(event));
    // The event arrives while the response is still open: it was not held back until the end.
    std::unique_lock lock(mutex);
    ASSERT_TRUE(received_more.wait_for(lock, kSafety, [&] { return sink.text == expected; })) << sink.text;
  }
  exchange->end();
  reader.join();
  EXPECT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(sink.text, expected);
  EXPECT_NE(result.headers.find("Transfer-Encoding: chunked"), std::string::npos) << result.headers;
  EXPECT_FALSE(exchange->write("late"));
}

TEST(HttpServer, LetsAHandlerStreamInlineOnTheIoThread) {
  auto server = start_server([](ExchangePtr exchange) {
    exchange->start_stream(200, {{"Content-Type", "text/event-stream"}});
    for (int i = 0; i < 100; ++i) exchange->write("data: " + std::to_string(i) + "\n\n");
    exchange->end();
  });
  RawClient client(server->port());
  client.send("GET /inline HTTP/1.1\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->chunked);
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  EXPECT_EQ(response->body, expected);
}

TEST(HttpServer, FlowControlHoldsBytesWhileTheClientDoesNotReadAndDrainsWhenItDoes) {
  ServerOptions options;
  options.low_watermark = 16 * 1024;
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server(
      [&](ExchangePtr exchange) {
        exchange->start_stream(200, {{"Content-Type", "application/octet-stream"}});
        exchanges.push(exchange);
      },
      options);
  RawClient client(server->port(), /*receive_buffer=*/4096);
  client.send("GET /big HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  ASSERT_TRUE(exchange);

  std::mutex mutex;
  std::condition_variable changed;
  int drains = 0;
  bool producer_blocked = false;
  std::size_t buffered_when_blocked = 0;
  exchange->on_drain([&] {
    {
      std::lock_guard lock(mutex);
      ++drains;
    }
    changed.notify_all();
  });

  // 4 MiB in 8 KiB chunks, each filled with its own index, written the way a real producer does:
  // pause while buffered() is above the watermark, resume on on_drain.
  constexpr int kChunks = 512;
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += std::string(8192, static_cast<char>('A' + i % 26));
  bool producer_ok = true;
  std::thread producer([&] {
    for (int i = 0; i < kChunks && producer_ok; ++i) {
      std::unique_lock lock(mutex);
      if (exchange->buffered() > options.low_watermark && !producer_blocked) {
        producer_blocked = true;
        buffered_when_blocked = exchange->buffered();
        changed.notify_all();
      }
      producer_ok = changed.wait_for(lock, kSafety, [&] { return exchange->buffered() <= options.low_watermark; });
      lock.unlock();
      producer_ok = producer_ok && exchange->write(expected.substr(static_cast<std::size_t>(i) * 8192, 8192));
    }
    exchange->end();
  });
  {
    // The client reads nothing until the producer had to stop.
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kSafety, [&] { return producer_blocked; }));
  }
  const int drains_before_reading = [&] {
    std::lock_guard lock(mutex);
    return drains;
  }();
  auto response = client.read_response();
  producer.join();
  ASSERT_TRUE(producer_ok);
  ASSERT_TRUE(response);
  EXPECT_GT(buffered_when_blocked, options.low_watermark);
  std::lock_guard lock(mutex);
  EXPECT_GT(drains, drains_before_reading);
  EXPECT_EQ(response->body.size(), expected.size());
  EXPECT_TRUE(response->body == expected) << "the streamed bytes differ from what was written";
  EXPECT_EQ(exchange->buffered(), 0u);
}

TEST(HttpServer, RunsOnCloseAndFailsWritesWhenTheClientDisconnectsMidStream) {
  Mailbox<ExchangePtr> exchanges;
  std::promise<void> closed;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->on_close([&] { closed.set_value(); });
    exchange->start_stream(200, {{"Content-Type", "text/event-stream"}});
    exchanges.push(exchange);
  });
  auto client = std::make_unique<RawClient>(server->port());
  client->send("GET /events HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  ASSERT_TRUE(exchange);
  ASSERT_TRUE(exchange->write("data: first\n\n"));
  ASSERT_TRUE(client->read_until("data: first\n\n"));
  client->close();
  ASSERT_EQ(closed.get_future().wait_for(kSafety), std::future_status::ready);
  EXPECT_TRUE(exchange->closed());
  EXPECT_FALSE(exchange->write("data: second\n\n"));
  EXPECT_EQ(exchange->buffered(), 0u);
  EXPECT_TRUE(eventually([&] { return server->open_connections() == 0; }));
}

TEST(HttpServer, RunsOnCloseWhenTheClientLeavesBeforeAnAnswer) {
  Mailbox<ExchangePtr> exchanges;
  std::promise<void> closed;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->on_close([&] { closed.set_value(); });
    exchanges.push(exchange);
  });
  RawClient client(server->port());
  client.send("GET /slow HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  client.reset();
  ASSERT_EQ(closed.get_future().wait_for(kSafety), std::future_status::ready);
  EXPECT_FALSE(exchange->respond(Response{200, {}, "too late"}));
}

TEST(HttpServer, ServesAThousandConcurrentStreams) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ASSERT_GE(limit.rlim_cur, 2100u) << "needs descriptors for both ends of 1,000 connections";

  constexpr int kClients = 1000;
  constexpr int kEvents = 10;
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->start_stream(200, {{"Content-Type", "text/event-stream"}});
    {
      std::lock_guard lock(mutex);
      exchanges.push_back(exchange);
    }
    arrived.notify_all();
  });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(server->port()));
    ASSERT_TRUE(clients.back()->connected()) << i;
    clients.back()->send("GET /stream/" + std::to_string(i) + " HTTP/1.1\r\n\r\n");
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(arrived.wait_for(lock, kSafety, [&] { return exchanges.size() == kClients; })) << exchanges.size();
  }
  EXPECT_EQ(server->open_connections(), static_cast<std::size_t>(kClients));
  std::thread broadcaster([&] {
    for (int e = 0; e < kEvents; ++e) {
      for (auto& exchange : exchanges) exchange->write("data: " + exchange->request().path + " #" + std::to_string(e) + "\n\n");
    }
    for (auto& exchange : exchanges) exchange->end();
  });
  for (int i = 0; i < kClients; ++i) {
    auto response = clients[i]->read_response();
    ASSERT_TRUE(response) << i;
    std::string expected;
    for (int e = 0; e < kEvents; ++e) expected += "data: /stream/" + std::to_string(i) + " #" + std::to_string(e) + "\n\n";
    ASSERT_EQ(response->body, expected) << i;
  }
  broadcaster.join();
}

// ---- shutdown, limits, descriptors ----

TEST(HttpServer, ShutdownDeliversAnAnswerGivenDuringTheGracePeriod) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) {
    if (exchange->request().path == "/quick") {
      exchange->respond(Response{200, {}, "quick"});
    } else {
      exchanges.push(exchange);
    }
  });
  RawClient busy(server->port());
  busy.send("GET /slow HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  ASSERT_TRUE(exchange);
  RawClient idle(server->port());
  idle.send("GET /quick HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(idle.read_response());

  auto stopped = std::async(std::launch::async, [&] { server->shutdown(std::chrono::milliseconds(kSafety)); });
  // Draining started once the idle keep-alive connection is closed.
  ASSERT_TRUE(idle.closed_by_server());
  EXPECT_TRUE(exchange->respond(Response{200, {}, "answered during the grace period"}));
  auto response = busy.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "answered during the grace period");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(busy.closed_by_server());
  EXPECT_EQ(stopped.wait_for(kSafety), std::future_status::ready);
}

TEST(HttpServer, ShutdownClosesANeverAnsweredExchangeAndRunsOnClose) {
  Mailbox<ExchangePtr> exchanges;
  std::promise<std::thread::id> closed_on;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->on_close([&] { closed_on.set_value(std::this_thread::get_id()); });
    exchanges.push(exchange);
  });
  RawClient client(server->port());
  client.send("GET /forever HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  ASSERT_TRUE(exchange);
  server->shutdown(50ms);
  auto closed = closed_on.get_future();
  ASSERT_EQ(closed.wait_for(0s), std::future_status::ready);  // before shutdown() returned
  EXPECT_NE(closed.get(), std::this_thread::get_id());        // on the I/O thread
  EXPECT_TRUE(exchange->closed());
  EXPECT_FALSE(exchange->respond(Response{200, {}, "too late"}));
  EXPECT_TRUE(client.closed_by_server());
  server->shutdown(0ms);  // idempotent
}

TEST(HttpServer, AnExchangeOutlivingTheServerIsSafeToCall) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->start_stream(200, {});
    exchanges.push(exchange);
  });
  RawClient client(server->port());
  client.send("GET /s HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  server.reset();
  EXPECT_TRUE(exchange->closed());
  EXPECT_FALSE(exchange->write("x"));
  EXPECT_FALSE(exchange->respond(Response{}));
  EXPECT_EQ(exchange->buffered(), 0u);
  exchange->end();
  bool ran = false;
  exchange->on_close([&] { ran = true; });  // the close already happened: runs at once
  EXPECT_TRUE(ran);
}

TEST(HttpServer, StopAcceptingRefusesNewConnectionsButServesOpenOnes) {
  auto server = start_server(answer_with_path());
  RawClient open(server->port());
  open.send("GET /before HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(open.read_response());
  server->stop_accepting();
  RawClient refused(server->port());
  EXPECT_FALSE(refused.connected());
  open.send("GET /after HTTP/1.1\r\n\r\n");
  auto response = open.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "you asked for /after");
}

TEST(HttpServer, ClosesConnectionsAboveMaxConnectionsAtOnce) {
  ServerOptions options;
  options.max_connections = 2;
  auto server = start_server(answer_with_path(), options);
  auto first = std::make_unique<RawClient>(server->port());
  RawClient second(server->port());
  for (RawClient* client : {first.get(), &second}) {
    client->send("GET / HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(client->read_response());
  }
  RawClient third(server->port());
  third.send("GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(third.closed_by_server());
  EXPECT_TRUE(third.buffer().empty());

  first.reset();
  ASSERT_TRUE(eventually([&] { return server->open_connections() == 1; }));
  RawClient fourth(server->port());
  fourth.send("GET /4 HTTP/1.1\r\n\r\n");
  auto response = fourth.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "you asked for /4");
}

TEST(HttpServer, LeaksNoDescriptorsAfterManyConnections) {
  const std::size_t before = open_descriptor_count();
  {
    Mailbox<ExchangePtr> held;
    auto server = start_server([&](ExchangePtr exchange) {
      if (exchange->request().path == "/hold") {
        exchange->start_stream(200, {});
        held.push(exchange);
        return;
      }
      exchange->respond(Response{200, {}, "ok"});
    });
    for (int i = 0; i < 200; ++i) {
      RawClient client(server->port());
      switch (i % 5) {
        case 0:  // keep-alive, closed by the client
          client.send("GET / HTTP/1.1\r\n\r\n");
          ASSERT_TRUE(client.read_response());
          break;
        case 1:  // closed by the server
          client.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
          ASSERT_TRUE(client.read_response());
          ASSERT_TRUE(client.closed_by_server());
          break;
        case 2:  // refused request
          client.send("BAD\r\n\r\n");
          ASSERT_TRUE(client.read_response());
          break;
        case 3:  // reset in the middle of a request
          client.send("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
          client.reset();
          break;
        case 4:  // a stream still open when the server stops
          client.send("GET /hold HTTP/1.1\r\n\r\n");
          held.pop();
          break;
      }
    }
  }  // the server stops and closes everything
  EXPECT_EQ(open_descriptor_count(), before);
}

TEST(HttpServer, ReportsTheBoundPortForPortZero) {
  auto server = start_server(answer_with_path());
  EXPECT_NE(server->port(), 0);
}

TEST(HttpServer, StartReportsAnAddressInUseNamingTheAddress) {
  auto first = start_server(answer_with_path());
  ServerOptions options;
  options.port = first->port();
  auto second = Server::start(options, answer_with_path());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::unavailable);
  EXPECT_NE(second.error().message.find("127.0.0.1:" + std::to_string(first->port())), std::string::npos)
      << second.error().message;
}

TEST(HttpServer, StartReportsAnUnresolvableHost) {
  ServerOptions options;
  options.host = "no-such-host.invalid";
  auto server = Server::start(options, answer_with_path());
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(server.error().message.find("no-such-host.invalid"), std::string::npos) << server.error().message;
}

TEST(HttpServer, AcceptsOnlyOneAnswerPerExchange) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) { exchanges.push(exchange); });
  RawClient client(server->port());
  client.send("GET / HTTP/1.1\r\n\r\n");
  ExchangePtr exchange = exchanges.pop();
  EXPECT_FALSE(exchange->write("not streaming"));
  EXPECT_TRUE(exchange->respond(Response{200, {}, "first"}));
  EXPECT_FALSE(exchange->respond(Response{200, {}, "second"}));
  EXPECT_FALSE(exchange->start_stream(200, {}));
  EXPECT_FALSE(exchange->accept_websocket([](std::string, bool) {}));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "first");
}

TEST(HttpServer, StreamsToAnHttp10ClientUntilTheConnectionCloses) {
  auto server = start_server([](ExchangePtr exchange) {
    exchange->start_stream(200, {{"Content-Type", "text/plain"}});
    exchange->write("no chunked ");
    exchange->write("encoding in HTTP/1.0");
    exchange->end();
  });
  RawClient client(server->port());
  client.send("GET /old-stream HTTP/1.0\r\n\r\n");
  auto response = client.read_response();  // the body ends at EOF
  ASSERT_TRUE(response);
  EXPECT_FALSE(response->has_header("transfer-encoding"));
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_EQ(response->body, "no chunked encoding in HTTP/1.0");
}

TEST(HttpServer, AnswersEndWithoutAResponseWith500) {
  auto server = start_server([](ExchangePtr exchange) { exchange->end(); });
  RawClient client(server->port());
  client.send("GET / HTTP/1.1\r\n\r\n");
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(nlohmann::json::parse(response->body)["error"]["code"], "no_response");
}
