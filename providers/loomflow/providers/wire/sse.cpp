#include "loomflow/providers/wire/sse.hpp"

#include <utility>

namespace loomflow::providers::wire {

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  std::size_t i = 0;
  // A CR ended the previous chunk: an LF opening this one completes that CRLF, not a new line.
  if (skip_lf_ && !bytes.empty()) {
    if (bytes.front() == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    // A plain scan: find_first_of("\r\n") calls memchr once per byte of input.
    std::size_t end = i;
    while (end < bytes.size() && bytes[end] != '\n' && bytes[end] != '\r') ++end;
    if (end == bytes.size()) {
      partial_.append(bytes.substr(i));
      break;
    }
    if (partial_.empty()) {
      line(bytes.substr(i, end - i), out);
    } else {
      partial_.append(bytes.substr(i, end - i));
      std::string text = std::move(partial_);
      partial_.clear();
      line(text, out);
    }
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i < bytes.size()) {
        if (bytes[i] == '\n') ++i;
      } else {
        skip_lf_ = true;
      }
    }
  }
}

bool SseParser::at_boundary() const noexcept { return partial_.empty() && !has_fields_; }

void SseParser::line(std::string_view text, std::vector<SseEvent>& out) {
  if (text.empty()) {  // a blank line dispatches the event, if it has data, and starts a new one
    if (has_data_) out.push_back(std::move(current_));
    current_ = SseEvent{};
    has_data_ = false;
    has_fields_ = false;
    return;
  }
  if (text.front() == ':') return;  // a comment (also used as a keep-alive)

  std::string_view field = text;
  std::string_view value;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace loomflow::providers::wire
