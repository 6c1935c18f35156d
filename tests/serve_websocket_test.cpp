// WebSocket (RFC 6455) under `loomflow serve`: the pure frame codec (WebSocketCodec) and the server
// on a real loopback socket with a small raw client written here (WebSocketServer): handshake,
// masked messages both ways, length encodings, fragments, ping/pong, every protocol violation with
// its close code, closing from either side, flow control and shutdown.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
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

#include "loomflow/detail/utf8.hpp"
#include "loomflow/serve/http/server.hpp"
#include "loomflow/serve/http/websocket_frame.hpp"
#include "loomflow/serve/http/websocket_handshake.hpp"
#include "loopback_socket.hpp"
#include "server_test_support.hpp"

using loomflow::detail::is_valid_utf8;
using loomflow::serve::http::encode_close_frame;
using loomflow::serve::http::encode_frame_header;
using loomflow::serve::http::ExchangePtr;
using loomflow::serve::http::Handler;
using loomflow::serve::http::Response;
using loomflow::serve::http::Server;
using loomflow::serve::http::ServerOptions;
using loomflow::serve::http::websocket_accept_key;
using loomflow::serve::http::WebSocketEvent;
using loomflow::serve::http::WebSocketOpcode;
using loomflow::serve::http::WebSocketReader;
using namespace std::chrono_literals;

using loomflow::testing::Mailbox;
using loomflow::testing::start_server;

namespace {

constexpr auto kSafety = 20s;  // only ever hit when a test is failing
constexpr std::uint8_t kText = 0x1, kBinary = 0x2, kContinuation = 0x0, kClose = 0x8, kPing = 0x9, kPong = 0xA;
constexpr char kRfcKey[] = "dGhlIHNhbXBsZSBub25jZQ==";

// A client frame: masked (unless told otherwise) with a fixed key, 7/16/64-bit length.
std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool masked = true,
                         std::uint8_t reserved_bits = 0) {
  std::string frame;
  frame += static_cast<char>((fin ? 0x80 : 0) | reserved_bits | opcode);
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  const std::uint64_t length = payload.size();
  if (length <= 125) {
    frame += static_cast<char>(mask_bit | length);
  } else if (length <= 0xFFFF) {
    frame += static_cast<char>(mask_bit | 126);
    frame += static_cast<char>(length >> 8);
    frame += static_cast<char>(length & 0xFF);
  } else {
    frame += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((length >> shift) & 0xFF);
  }
  const unsigned char key[4] = {0x37, 0xFA, 0x21, 0x3D};
  if (!masked) return frame + std::string(payload);
  for (unsigned char k : key) frame += static_cast<char>(k);
  for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  return payload + std::string(reason);
}

struct Frame {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  int length_bits = 7;  // how the length was encoded: 7, 16 or 64
  std::string payload;
  std::uint16_t close_code() const {
    return payload.size() < 2 ? 1005
                              : static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                           static_cast<unsigned char>(payload[1]));
  }
};

// Parses one server frame from the front of `buffer`; nullopt while incomplete.
std::optional<Frame> take_frame(std::string& buffer) {
  if (buffer.size() < 2) return std::nullopt;
  Frame frame;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buffer[i]); };
  frame.fin = byte(0) & 0x80;
  frame.opcode = byte(0) & 0x0F;
  frame.masked = byte(1) & 0x80;
  std::uint64_t length = byte(1) & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    if (buffer.size() < 4) return std::nullopt;
    length = (std::uint64_t{byte(2)} << 8) | byte(3);
    frame.length_bits = 16;
    at = 4;
  } else if (length == 127) {
    if (buffer.size() < 10) return std::nullopt;
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
    frame.length_bits = 64;
    at = 10;
  }
  if (buffer.size() < at + length) return std::nullopt;
  frame.payload = buffer.substr(at, length);
  buffer.erase(0, at + length);
  return frame;
}

// A loopback WebSocket client.
class WsClient : public loomflow::testing::LoopbackSocket {
 public:
  explicit WsClient(std::uint16_t port, int receive_buffer = 0) : LoopbackSocket(port, receive_buffer, kSafety) {}

  // Sends the upgrade request and reads the head of the answer; returns it (empty on failure).
  std::string handshake(const std::string& path = "/ws", const std::string& key = kRfcKey,
                        const std::string& version = "13") {
    send("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
         "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: " + version + "\r\n\r\n");
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return {};
    }
    std::string head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    return head;
  }

  bool open(const std::string& path = "/ws") {
    return handshake(path).rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0;
  }

  std::optional<Frame> read_frame() {
    while (true) {
      if (auto frame = take_frame(buffer_)) return frame;
      if (!read_more()) return std::nullopt;
    }
  }

  // True when the server closes the TCP connection with nothing more sent.
  bool closed_by_server() {
    while (read_more()) {
    }
    return eof_ && buffer_.empty();
  }

};

std::string header_value(const std::string& head, const std::string& name) {
  const std::size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return {};
  const std::size_t start = at + 4 + name.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

struct Message {
  std::string text;
  bool binary = false;
};

// A WebSocket endpoint: accepts every upgrade, echoes text as "echo: <text>", records everything.
struct EchoEndpoint {
  Mailbox<ExchangePtr> exchanges;
  Mailbox<Message> messages;
  std::promise<void> closed;
  std::atomic<bool> close_ran{false};

  Handler handler() {
    return [this](ExchangePtr exchange) {
      exchange->on_close([this] {
        close_ran = true;
        closed.set_value();
      });
      std::weak_ptr<loomflow::serve::http::Exchange> weak = exchange;
      const bool accepted = exchange->accept_websocket([this, weak](std::string text, bool binary) {
        messages.push(Message{text, binary});
        if (auto exchange = weak.lock(); exchange && !binary) exchange->write("echo: " + text);
      });
      if (!accepted) exchange->respond(Response{426, {}, "upgrade required"});
      exchanges.push(exchange);
    };
  }
};

void expect_close_with(WsClient& client, std::uint16_t code) {
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, kClose);
  EXPECT_EQ(frame->close_code(), code) << frame->payload.substr(2);
  EXPECT_TRUE(client.closed_by_server());
}

std::vector<WebSocketEvent> read_events(std::string_view bytes, std::size_t max_message, bool bytewise) {
  WebSocketReader reader(max_message);
  std::vector<WebSocketEvent> events;
  std::size_t at = 0;
  while (at < bytes.size() && !reader.finished()) {
    const std::size_t used = reader.feed(bytes.substr(at, bytewise ? 1 : bytes.size() - at));
    at += used;
    if (auto event = reader.take_event()) events.push_back(std::move(*event));
    if (used == 0 && !bytewise) break;
  }
  return events;
}

WebSocketEvent single_error(std::string_view bytes, std::size_t max_message = 1024) {
  const auto events = read_events(bytes, max_message, false);
  if (events.empty()) return {};
  return events.back();
}

}  // namespace

// ---- codec ----

TEST(WebSocketCodec, AcceptKeyMatchesTheRfcExample) {
  EXPECT_EQ(websocket_accept_key(kRfcKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketCodec, EncodesLengthsIn7And16And64Bits) {
  EXPECT_EQ(encode_frame_header(WebSocketOpcode::text, 125), std::string("\x81\x7D"));
  EXPECT_EQ(encode_frame_header(WebSocketOpcode::text, 126), std::string("\x81\x7E\x00\x7E", 4));
  EXPECT_EQ(encode_frame_header(WebSocketOpcode::text, 65535), std::string("\x81\x7E\xFF\xFF"));
  EXPECT_EQ(encode_frame_header(WebSocketOpcode::binary, 65536),
            std::string("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  EXPECT_EQ(encode_close_frame(1000), std::string("\x88\x02\x03\xE8", 4));
}

TEST(WebSocketCodec, ReaderGivesTheSameEventsByteByByteAsInOneFeed) {
  const std::string stream = client_frame(kText, "Hel", false) + client_frame(kPing, "p") +
                             client_frame(kContinuation, "lo") + client_frame(kBinary, std::string(300, '\xFF')) +
                             client_frame(kText, std::string(70000, 'x')) + client_frame(kClose, close_payload(1000, "bye"));
  for (bool bytewise : {false, true}) {
    const auto events = read_events(stream, 100000, bytewise);
    ASSERT_EQ(events.size(), 5u) << bytewise;
    EXPECT_EQ(events[0].kind, WebSocketEvent::Kind::ping);
    EXPECT_EQ(events[0].payload, "p");
    EXPECT_EQ(events[1].kind, WebSocketEvent::Kind::message);
    EXPECT_EQ(events[1].payload, "Hello");
    EXPECT_TRUE(events[2].binary);
    EXPECT_EQ(events[2].payload, std::string(300, '\xFF'));
    EXPECT_EQ(events[3].payload.size(), 70000u);
    EXPECT_EQ(events[4].kind, WebSocketEvent::Kind::close);
    EXPECT_EQ(events[4].code, 1000);
    EXPECT_EQ(events[4].reason, "bye");
  }
}

TEST(WebSocketCodec, ReaderRejectsProtocolViolationsWithTheirCloseCodes) {
  const auto expect = [](std::string_view bytes, std::uint16_t code, std::size_t max = 1024) {
    const WebSocketEvent event = single_error(bytes, max);
    EXPECT_EQ(event.kind, WebSocketEvent::Kind::protocol_error);
    EXPECT_EQ(event.code, code) << event.reason;
    EXPECT_FALSE(event.reason.empty());
  };
  expect(client_frame(kText, "x", true, /*masked=*/false), 1002);
  expect(client_frame(kText, "x", true, true, /*reserved_bits=*/0x40), 1002);
  expect(client_frame(0x3, "x"), 1002);                                        // unknown opcode
  expect(client_frame(kContinuation, "x"), 1002);                              // nothing to continue
  expect(client_frame(kText, "a", false) + client_frame(kText, "b"), 1002);    // new message mid-fragments
  expect(client_frame(kPing, std::string(126, 'p')), 1002);                    // control > 125 bytes
  expect(client_frame(kPing, "p", /*fin=*/false), 1002);                       // fragmented control
  expect(client_frame(kClose, "x"), 1002);                                     // 1-byte close payload
  expect(client_frame(kClose, close_payload(1005)), 1002);                     // a code never sent
  expect(client_frame(kClose, close_payload(1000, "\xC3\x28")), 1007);         // reason not UTF-8
  expect(client_frame(kText, "\xC3\x28"), 1007);
  expect(client_frame(kText, std::string(1025, 'x')), 1009);
  expect(client_frame(kText, std::string(600, 'x'), false) + client_frame(kContinuation, std::string(600, 'x')), 1009);
}

TEST(WebSocketCodec, Utf8ValidationFollowsTheSameRulesAsTheRepair) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  for (const char* text : {"ok \xE2\x82\xAC", "bad \xC3\x28", "\xF0\x9F\x98"}) {
    EXPECT_EQ(is_valid_utf8(text), loomflow::detail::valid_utf8(text) == text) << text;
  }
}

// ---- server ----

TEST(WebSocketServer, AnswersTheHandshakeWithTheRfcAcceptKey) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  const std::string head = client.handshake();
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_EQ(header_value(head, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(header_value(head, "Upgrade"), "websocket");
  EXPECT_EQ(header_value(head, "Connection"), "Upgrade");
  EXPECT_TRUE(endpoint.exchanges.pop()->is_websocket_upgrade());
}

TEST(WebSocketServer, RefusesToAcceptARequestThatIsNotAValidUpgrade) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  const std::string head = client.handshake("/ws", kRfcKey, /*version=*/"8");
  EXPECT_EQ(head.rfind("HTTP/1.1 426 ", 0), 0u) << head;
  EXPECT_FALSE(endpoint.exchanges.pop()->is_websocket_upgrade());

  WsClient bad_key(server->port());
  EXPECT_EQ(bad_key.handshake("/ws", "too-short").rfind("HTTP/1.1 426 ", 0), 0u);
}

TEST(WebSocketServer, ExchangesMaskedTextMessagesBothWays) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, "hello"));
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_TRUE(frame->fin);
  EXPECT_EQ(frame->opcode, kText);
  EXPECT_FALSE(frame->masked);  // server frames are never masked
  EXPECT_EQ(frame->payload, "echo: hello");
  const Message message = endpoint.messages.pop();
  EXPECT_EQ(message.text, "hello");
  EXPECT_FALSE(message.binary);
}

TEST(WebSocketServer, DeliversBinaryMessagesAsBinary) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  const std::string bytes("\x00\xFF\xC3\x28 binary", 10);
  client.send(client_frame(kBinary, bytes));
  const Message message = endpoint.messages.pop();
  EXPECT_TRUE(message.binary);
  EXPECT_EQ(message.text, bytes);
}

TEST(WebSocketServer, SendsFramesWith7And16And64BitLengths) {
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->accept_websocket([](std::string, bool) {});
    exchanges.push(exchange);
  });
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  ExchangePtr exchange = exchanges.pop();
  const std::vector<std::pair<std::size_t, int>> sizes = {{0, 7}, {125, 7}, {126, 16}, {65535, 16}, {65536, 64}, {200000, 64}};
  for (const auto& [size, bits] : sizes) {
    ASSERT_TRUE(exchange->write(std::string(size, static_cast<char>('a' + size % 26))));
  }
  for (const auto& [size, bits] : sizes) {
    auto frame = client.read_frame();
    ASSERT_TRUE(frame) << size;
    EXPECT_EQ(frame->opcode, kText);
    EXPECT_EQ(frame->length_bits, bits) << size;
    EXPECT_EQ(frame->payload, std::string(size, static_cast<char>('a' + size % 26)));
  }
}

TEST(WebSocketServer, ReassemblesAFragmentedMessageWithAPingInBetween) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, "Hel", false) + client_frame(kPing, "mid") + client_frame(kContinuation, "l", false));
  client.send(client_frame(kContinuation, "o"));
  auto pong = client.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "mid");
  auto echo = client.read_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->payload, "echo: Hello");
}

TEST(WebSocketServer, AnswersAPingWithAPongCarryingTheSamePayload) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kPing, "are you there?"));
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, kPong);
  EXPECT_EQ(frame->payload, "are you there?");
}

TEST(WebSocketServer, ClosesWith1002OnAnUnmaskedFrameAndRunsOnClose) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, "naked", true, /*masked=*/false));
  expect_close_with(client, 1002);
  EXPECT_EQ(endpoint.closed.get_future().wait_for(kSafety), std::future_status::ready);
}

TEST(WebSocketServer, ClosesWith1002OnAnOversizedControlFrame) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kPing, std::string(126, 'p')));
  expect_close_with(client, 1002);
}

TEST(WebSocketServer, ClosesWith1002OnAFragmentedControlFrame) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kPing, "p", /*fin=*/false));
  expect_close_with(client, 1002);
}

TEST(WebSocketServer, ClosesWith1009OnAMessageAboveTheLimit) {
  ServerOptions options;
  options.max_websocket_message = 1024;
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler(), options);
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, std::string(800, 'a'), false));
  client.send(client_frame(kContinuation, std::string(800, 'b')));
  expect_close_with(client, 1009);
  EXPECT_EQ(endpoint.closed.get_future().wait_for(kSafety), std::future_status::ready);
}

TEST(WebSocketServer, ClosesWith1007OnTextThatIsNotUtf8) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, "caf\xC3"));
  expect_close_with(client, 1007);
}

TEST(WebSocketServer, AnswersAClientCloseAndRunsOnClose) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  ExchangePtr exchange = endpoint.exchanges.pop();
  client.send(client_frame(kClose, close_payload(4001, "bye")));
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, kClose);
  EXPECT_EQ(frame->close_code(), 4001);  // the client's code, echoed
  ASSERT_EQ(endpoint.closed.get_future().wait_for(kSafety), std::future_status::ready);
  EXPECT_TRUE(exchange->closed());
  EXPECT_FALSE(exchange->write("after close"));
  EXPECT_TRUE(client.closed_by_server());
}

TEST(WebSocketServer, RunsOnCloseWhenTheClientDisconnectsWithoutAClose) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  ExchangePtr exchange = endpoint.exchanges.pop();
  client.close();
  ASSERT_EQ(endpoint.closed.get_future().wait_for(kSafety), std::future_status::ready);
  EXPECT_FALSE(exchange->write("gone"));
}

TEST(WebSocketServer, EndSendsClose1000AndClosesWithoutRunningOnClose) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  ExchangePtr exchange = endpoint.exchanges.pop();
  ASSERT_TRUE(exchange->write("last words"));
  exchange->end();
  EXPECT_FALSE(exchange->write("after end"));
  auto last = client.read_frame();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->payload, "last words");
  auto close = client.read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, kClose);
  EXPECT_EQ(close->close_code(), 1000);
  client.send(client_frame(kClose, close_payload(1000)));  // the client's reply
  EXPECT_TRUE(client.closed_by_server());
  server.reset();  // every callback that could run has run
  EXPECT_FALSE(endpoint.close_ran);
}

TEST(WebSocketServer, FlowControlDrainsWhenTheClientReads) {
  ServerOptions options;
  options.low_watermark = 8 * 1024;
  Mailbox<ExchangePtr> exchanges;
  auto server = start_server(
      [&](ExchangePtr exchange) {
        exchange->accept_websocket([](std::string, bool) {});
        exchanges.push(exchange);
      },
      options);
  WsClient client(server->port(), /*receive_buffer=*/4096);
  ASSERT_TRUE(client.open());
  ExchangePtr exchange = exchanges.pop();
  std::mutex mutex;
  std::condition_variable drained;
  int drains = 0;
  exchange->on_drain([&] {
    {
      std::lock_guard lock(mutex);
      ++drains;
    }
    drained.notify_all();
  });
  // Write until the socket is full and bytes pile up above the watermark.
  int written = 0;
  while (exchange->buffered() <= options.low_watermark) {
    ASSERT_TRUE(exchange->write("message " + std::to_string(written++) + std::string(4000, '.')));
  }
  const int drains_before = [&] {
    std::lock_guard lock(mutex);
    return drains;
  }();
  for (int i = 0; i < written; ++i) {
    auto frame = client.read_frame();
    ASSERT_TRUE(frame) << i;
    ASSERT_EQ(frame->payload, "message " + std::to_string(i) + std::string(4000, '.'));
  }
  std::unique_lock lock(mutex);
  EXPECT_TRUE(drained.wait_for(lock, kSafety, [&] { return drains > drains_before; }));
  EXPECT_EQ(exchange->buffered(), 0u);
}

TEST(WebSocketServer, ShutdownSendsGoingAwayToOpenWebSockets) {
  EchoEndpoint endpoint;
  auto server = start_server(endpoint.handler());
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  endpoint.exchanges.pop();
  server->shutdown(0ms);
  expect_close_with(client, 1001);
  EXPECT_TRUE(endpoint.close_ran);
}

TEST(WebSocketServer, ClosesWith1011WhenTheMessageCallbackThrowsAndKeepsServing) {
  Mailbox<ExchangePtr> exchanges;
  std::promise<void> closed;
  auto server = start_server([&](ExchangePtr exchange) {
    exchange->on_close([&] { closed.set_value(); });
    exchange->accept_websocket([](std::string, bool) { throw std::runtime_error("bug in the message callback"); });
    exchanges.push(exchange);
  });
  WsClient client(server->port());
  ASSERT_TRUE(client.open());
  client.send(client_frame(kText, "trigger"));
  expect_close_with(client, 1011);
  EXPECT_EQ(closed.get_future().wait_for(kSafety), std::future_status::ready);
  WsClient next(server->port());
  EXPECT_TRUE(next.open());
}
