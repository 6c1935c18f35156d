#include "loomflow/serve/http/websocket_frame.hpp"

#include <algorithm>

#include "loomflow/detail/utf8.hpp"

namespace loomflow::serve::http {
namespace {

constexpr std::size_t kMaxControlPayload = 125;

bool is_control(WebSocketOpcode opcode) noexcept { return (static_cast<std::uint8_t>(opcode) & 0x8) != 0; }

bool is_known_opcode(std::uint8_t opcode) noexcept {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA);
}

// Codes a peer may send in a close frame (RFC 6455 §7.4; 1012-1014 registered since).
bool is_sendable_close_code(std::uint16_t code) noexcept {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

}  // namespace

std::string encode_frame_header(WebSocketOpcode opcode, std::uint64_t payload_length, bool fin) {
  std::string header;
  header += static_cast<char>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(opcode));
  if (payload_length <= 125) {
    header += static_cast<char>(payload_length);
  } else if (payload_length <= 0xFFFF) {
    header += static_cast<char>(126);
    header += static_cast<char>((payload_length >> 8) & 0xFF);
    header += static_cast<char>(payload_length & 0xFF);
  } else {
    header += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) header += static_cast<char>((payload_length >> shift) & 0xFF);
  }
  return header;
}

std::string encode_frame(WebSocketOpcode opcode, std::string_view payload, bool fin) {
  std::string frame = encode_frame_header(opcode, payload.size(), fin);
  frame += payload;
  return frame;
}

std::string encode_close_frame(std::uint16_t code, std::string_view reason) {
  if (code == close_code::no_status) return encode_frame(WebSocketOpcode::close, {});
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload += reason.substr(0, kMaxControlPayload - 2);
  return encode_frame(WebSocketOpcode::close, payload);
}

std::optional<WebSocketEvent> WebSocketReader::take_event() {
  std::optional<WebSocketEvent> event = std::move(event_);
  event_.reset();
  return event;
}

void WebSocketReader::fail(std::uint16_t code, std::string reason) {
  WebSocketEvent event;
  event.kind = WebSocketEvent::Kind::protocol_error;
  event.code = code;
  event.reason = std::move(reason);
  event_ = std::move(event);
  stage_ = Stage::finished;
  message_.clear();
  control_.clear();
}

std::size_t WebSocketReader::feed(std::string_view bytes) {
  std::size_t used = 0;
  while (!event_ && stage_ != Stage::finished) {
    if (stage_ == Stage::header) {
      while (header_have_ < header_need_ && used < bytes.size()) {
        header_[header_have_++] = static_cast<std::uint8_t>(bytes[used++]);
        if (header_have_ == 2) {
          // The second byte tells how long the header is: extended length and the mask key.
          const std::uint8_t length7 = header_[1] & 0x7F;
          header_need_ = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
        }
      }
      if (header_have_ < header_need_) break;
      if (!header_complete()) break;
      if (payload_remaining_ == 0) complete_frame();
      continue;
    }
    // Stage::payload
    if (used == bytes.size()) break;
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_remaining_, bytes.size() - used));
    std::string& target = is_control(opcode_) ? control_ : message_;
    const std::size_t start = target.size();
    target.append(bytes.substr(used, take));
    for (std::size_t i = start; i < target.size(); ++i) {
      target[i] = static_cast<char>(static_cast<std::uint8_t>(target[i]) ^ mask_[mask_index_]);
      mask_index_ = (mask_index_ + 1) & 3;
    }
    used += take;
    payload_remaining_ -= take;
    if (payload_remaining_ == 0) complete_frame();
  }
  return used;
}

bool WebSocketReader::header_complete() {
  fin_ = (header_[0] & 0x80) != 0;
  const std::uint8_t raw_opcode = header_[0] & 0x0F;
  const bool masked = (header_[1] & 0x80) != 0;
  if ((header_[0] & 0x70) != 0) {
    fail(close_code::protocol_error, "reserved bits set without a negotiated extension");
    return false;
  }
  if (!is_known_opcode(raw_opcode)) {
    fail(close_code::protocol_error, "unknown opcode " + std::to_string(raw_opcode));
    return false;
  }
  if (!masked) {
    fail(close_code::protocol_error, "client frames must be masked");
    return false;
  }
  opcode_ = static_cast<WebSocketOpcode>(raw_opcode);

  const std::uint8_t length7 = header_[1] & 0x7F;
  std::uint64_t length = length7;
  std::size_t at = 2;
  if (length7 == 126) {
    length = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
  } else if (length7 == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | header_[i];
    at = 10;
    if (length >> 63) {
      fail(close_code::protocol_error, "the frame length has its most significant bit set");
      return false;
    }
  }
  std::copy(header_.begin() + static_cast<std::ptrdiff_t>(at), header_.begin() + static_cast<std::ptrdiff_t>(at + 4),
            mask_.begin());
  mask_index_ = 0;

  if (is_control(opcode_)) {
    if (!fin_) {
      fail(close_code::protocol_error, "control frames must not be fragmented");
      return false;
    }
    if (length > kMaxControlPayload) {
      fail(close_code::protocol_error, "a control frame carries more than 125 bytes");
      return false;
    }
    control_.clear();
  } else {
    if (opcode_ == WebSocketOpcode::continuation && !in_message_) {
      fail(close_code::protocol_error, "a continuation frame without a message to continue");
      return false;
    }
    if (opcode_ != WebSocketOpcode::continuation && in_message_) {
      fail(close_code::protocol_error, "a new data frame while a fragmented message is unfinished");
      return false;
    }
    if (length > max_message_bytes_ || message_.size() + length > max_message_bytes_) {
      fail(close_code::message_too_big, "message of at least " + std::to_string(message_.size() + length) +
                                            " bytes exceeds the limit of " + std::to_string(max_message_bytes_) +
                                            " bytes");
      return false;
    }
    if (opcode_ != WebSocketOpcode::continuation) {
      in_message_ = true;
      message_binary_ = opcode_ == WebSocketOpcode::binary;
      message_.clear();
    }
  }
  payload_remaining_ = length;
  stage_ = Stage::payload;
  header_have_ = 0;
  header_need_ = 2;
  return true;
}

void WebSocketReader::complete_frame() {
  stage_ = Stage::header;
  WebSocketEvent event;
  switch (opcode_) {
    case WebSocketOpcode::ping:
    case WebSocketOpcode::pong:
      event.kind = opcode_ == WebSocketOpcode::ping ? WebSocketEvent::Kind::ping : WebSocketEvent::Kind::pong;
      event.payload = std::move(control_);
      control_.clear();
      event_ = std::move(event);
      return;
    case WebSocketOpcode::close: {
      event.kind = WebSocketEvent::Kind::close;
      event.code = close_code::no_status;
      if (control_.size() == 1) return fail(close_code::protocol_error, "a close frame with a 1-byte payload");
      if (control_.size() >= 2) {
        event.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                                static_cast<std::uint8_t>(control_[1]));
        event.reason = control_.substr(2);
        if (!is_sendable_close_code(event.code)) {
          return fail(close_code::protocol_error, "invalid close code " + std::to_string(event.code));
        }
        if (!detail::is_valid_utf8(event.reason)) {
          return fail(close_code::invalid_payload, "the close reason is not valid UTF-8");
        }
      }
      control_.clear();
      event_ = std::move(event);
      stage_ = Stage::finished;
      return;
    }
    default:
      break;
  }
  if (!fin_) return;  // more fragments follow
  in_message_ = false;
  if (!message_binary_ && !detail::is_valid_utf8(message_)) {
    return fail(close_code::invalid_payload, "a text message is not valid UTF-8");
  }
  event.kind = WebSocketEvent::Kind::message;
  event.binary = message_binary_;
  event.payload = std::move(message_);
  message_.clear();
  event_ = std::move(event);
}

}  // namespace loomflow::serve::http
