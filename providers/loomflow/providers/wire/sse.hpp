// loomflow/providers/wire/sse.hpp — an incremental parser for `text/event-stream` bodies (the
// WHATWG "server-sent events" format), as OpenAI and Anthropic stream their responses.
//
// Bytes are fed as they arrive, split anywhere (even inside a line or a UTF-8 sequence); complete
// events come out in order. Lines end in LF, CRLF or CR; lines starting with ':' are comments;
// `data:` lines of one event are joined with '\n'; one leading space after the colon is dropped;
// an event is dispatched at a blank line; an event with no data lines is not dispatched.
// Thread-safety: one parser per stream, used by one thread at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loomflow::providers::wire {

struct SseEvent {
  std::string event;  // the `event:` field; empty when absent (the spec's default type "message")
  std::string data;   // the `data:` lines joined with '\n'
  std::string id;     // the `id:` field, when present
  friend bool operator==(const SseEvent&, const SseEvent&) = default;
};

class SseParser {
 public:
  // Parses `bytes` and appends every event they complete to `out`.
  void feed(std::string_view bytes, std::vector<SseEvent>& out);
  // True when no partial line or undispatched event is pending: at the end of the body, false
  // means the stream was cut off mid-event.
  bool at_boundary() const noexcept;

 private:
  void line(std::string_view text, std::vector<SseEvent>& out);

  std::string partial_;       // bytes of an unterminated line
  bool skip_lf_ = false;      // the previous chunk ended in CR: a leading LF belongs to it
  SseEvent current_;
  bool has_data_ = false;
  bool has_fields_ = false;   // any field seen since the last dispatch
};

}  // namespace loomflow::providers::wire
