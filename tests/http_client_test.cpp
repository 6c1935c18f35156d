// The HTTP client on its own: connection reuse and timers (cancellation: http_model_test).
#include <gtest/gtest.h>

#include <future>

#include <httplib.h>

#include "loomflow/providers/http/http_client.hpp"

using namespace loomflow;
using namespace loomflow::providers::http;

namespace {

// A keep-alive server that answers with the client's port, so a test can see connection reuse.
class PortEchoServer {
 public:
  PortEchoServer() {
    server_.set_tcp_nodelay(true);
    server_.Post("/port", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.remote_port), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~PortEchoServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/port"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

Expected<HttpResponse> call(HttpClient& client, const std::string& url) {
  std::promise<Expected<HttpResponse>> done;
  auto future = done.get_future();
  client.send(HttpRequest{"POST", url, {}, "{}"}, {}, [&done](Expected<HttpResponse> r) { done.set_value(std::move(r)); });
  return future.get();
}

}  // namespace

TEST(HttpClient, SequentialCallsToOneHostReuseTheConnection) {
  PortEchoServer server;
  std::string first, second;
  {
    HttpClient client;  // destroyed before the server, so stop() need not wait for keep-alive
    auto a = call(client, server.url());
    auto b = call(client, server.url());
    ASSERT_TRUE(a && b);
    first = a->body;
    second = b->body;
  }
  EXPECT_EQ(first, second);  // the same client port: one kept-alive connection
}

TEST(HttpClient, TimersRunAfterTheirDelayOnTheIoThread) {
  HttpClient client;
  std::promise<std::thread::id> ran;
  auto started = std::chrono::steady_clock::now();
  client.after(std::chrono::milliseconds(20), [&ran] { ran.set_value(std::this_thread::get_id()); });
  auto id = ran.get_future().get();
  EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(20));
}

TEST(HttpClient, AClientWhoseLastOwnerLetsGoInsideItsOwnCallbackShutsDownCleanly) {
  // A provider's callbacks own the provider, which owns the client: the last reference can drop on
  // the client's own I/O thread, which must not try to join itself.
  auto holder = std::make_shared<std::shared_ptr<HttpClient>>(std::make_shared<HttpClient>());
  std::promise<void> dropped;
  (*holder)->after(std::chrono::milliseconds(1), [holder, &dropped] {
    holder->reset();  // the client's destructor runs here, on its I/O thread
    dropped.set_value();
  });
  std::weak_ptr<HttpClient> watch = *holder;
  holder.reset();  // only the timer's capture owns the client now
  ASSERT_EQ(dropped.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(watch.expired());
}
