// loomflow/serve/http/websocket_frame.hpp — the WebSocket frame codec of RFC 6455 §5, server side:
// encoding unmasked server frames, and an incremental reader of client frames that reassembles
// fragmented messages and enforces the protocol (masking, control-frame rules, size limit, UTF-8).
// Thread-safety: pure functions; one reader per connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loomflow::serve::http {

enum class WebSocketOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close status codes (RFC 6455 §7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t no_status = 1005;  // never sent: "the close frame had no code"
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
}  // namespace close_code

// The header of an unmasked frame carrying `payload_length` bytes (7-, 16- or 64-bit length).
std::string encode_frame_header(WebSocketOpcode opcode, std::uint64_t payload_length, bool fin = true);
// A whole unmasked frame.
std::string encode_frame(WebSocketOpcode opcode, std::string_view payload, bool fin = true);
// A close frame; code no_status gives an empty payload. The reason is cut to fit 125 bytes.
std::string encode_close_frame(std::uint16_t code, std::string_view reason = {});

struct WebSocketEvent {
  enum class Kind : std::uint8_t { message, ping, pong, close, protocol_error };
  Kind kind = Kind::message;
  std::string payload;       // message, ping, pong: the (unmasked) payload
  bool binary = false;       // message: a binary (not text) message
  std::uint16_t code = 0;    // close: the client's code (no_status when absent); protocol_error: ours
  std::string reason;        // close: the client's reason; protocol_error: what was wrong
};

// Reads client frames. After a close or a protocol error it is finished and consumes nothing.
class WebSocketReader {
 public:
  explicit WebSocketReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Consumes a prefix of `bytes` and returns its length; stops as soon as an event is ready.
  std::size_t feed(std::string_view bytes);
  // The event completed by the last feed(), once.
  std::optional<WebSocketEvent> take_event();
  bool finished() const noexcept { return stage_ == Stage::finished; }

 private:
  enum class Stage : std::uint8_t { header, payload, finished };

  bool header_complete();  // validates the header; false after a protocol error
  void complete_frame();
  void fail(std::uint16_t code, std::string reason);

  std::size_t max_message_bytes_;
  Stage stage_ = Stage::header;
  std::array<std::uint8_t, 14> header_{};
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 2;

  bool fin_ = false;
  WebSocketOpcode opcode_ = WebSocketOpcode::text;
  std::uint64_t payload_remaining_ = 0;
  std::array<std::uint8_t, 4> mask_{};
  std::size_t mask_index_ = 0;

  bool in_message_ = false;   // a fragmented data message is being reassembled
  bool message_binary_ = false;
  std::string message_;
  std::string control_;       // payload of the control frame being read
  std::optional<WebSocketEvent> event_;
};

}  // namespace loomflow::serve::http
