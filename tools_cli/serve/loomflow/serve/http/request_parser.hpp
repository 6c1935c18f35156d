// loomflow/serve/http/request_parser.hpp — an incremental HTTP/1.1 request parser (RFC 9112).
//
// Feed it bytes as they arrive, in any split; it consumes one request at a time and stops right
// after it, so pipelined bytes stay with the caller. It also pauses once after the head (request
// line + headers) so the caller can answer `Expect: 100-continue` before the body arrives.
// Lines end in CRLF or a bare LF. A request it cannot accept ends in `failed()` with the status,
// short code and precise message the server answers with:
//   400 malformed request line / header / path escape / Content-Length / chunked framing,
//       both Content-Length and Transfer-Encoding
//   411 POST, PUT or PATCH without Content-Length or chunked body
//   413 body (declared or de-chunked) above max_body_bytes
//   431 request line + headers (or chunked trailers) above max_header_bytes
//   501 a Transfer-Encoding other than "chunked"
//   505 an HTTP version other than 1.0 and 1.1
// Thread-safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loomflow/serve/http/server.hpp"

namespace loomflow::serve::http {

struct ParserLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
};

// Why a request was refused: the HTTP status, a short machine code, and a message for people.
struct RequestError {
  int status = 400;
  std::string code;
  std::string message;
};

class RequestParser {
 public:
  enum class Status : std::uint8_t { head, body, complete, failed };

  explicit RequestParser(ParserLimits limits) : limits_(limits) {}

  // Consumes a prefix of `bytes` and returns its length. Stops after the head, after a complete
  // request and at an error; the caller feeds the rest again (after reset() for a complete one).
  std::size_t feed(std::string_view bytes);

  Status status() const noexcept { return status_; }
  bool complete() const noexcept { return status_ == Status::complete; }
  bool failed() const noexcept { return status_ == Status::failed; }
  bool head_complete() const noexcept { return status_ == Status::body || status_ == Status::complete; }
  // A byte of this request arrived (blank lines before a request line do not count).
  bool started() const noexcept { return status_ != Status::head || !head_.empty(); }

  // Valid once the head is complete.
  // The client sent `Expect: 100-continue` (HTTP/1.1) and a body is still to come.
  bool expects_continue() const noexcept { return expects_continue_ && status_ == Status::body; }
  // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
  bool keep_alive() const noexcept { return keep_alive_; }
  bool is_http11() const noexcept { return http_minor_ == 1; }

  // The request so far (complete once complete()); take_request() moves it out.
  const Request& request() const noexcept { return request_; }
  Request take_request() { return std::move(request_); }
  // Valid once failed().
  const RequestError& error() const noexcept { return error_; }

  // Ready for the next request on the same connection.
  void reset();

 private:
  enum class BodyMode : std::uint8_t { none, length, chunked };
  enum class ChunkStage : std::uint8_t { size_line, data, data_end, trailer };

  std::size_t feed_head(std::string_view bytes);
  std::size_t feed_body(std::string_view bytes);
  std::size_t feed_chunked(std::string_view bytes);
  void parse_head();
  bool parse_request_line(std::string_view line);
  bool parse_header_line(std::string_view line, std::size_t line_number);
  bool decide_body();
  void parse_chunk_size_line();
  void fail(int status, std::string code, std::string message);

  ParserLimits limits_;
  Status status_ = Status::head;
  RequestError error_;
  Request request_;

  std::string head_;            // bytes of the head so far
  std::size_t line_start_ = 0;  // where the current head line starts in head_
  int http_minor_ = 1;
  bool keep_alive_ = true;
  bool expects_continue_ = false;

  BodyMode body_mode_ = BodyMode::none;
  std::uint64_t body_remaining_ = 0;  // BodyMode::length, or the current chunk's data
  ChunkStage chunk_stage_ = ChunkStage::size_line;
  std::string line_;                  // the chunk-size or trailer line being read
  bool saw_cr_ = false;               // ChunkStage::data_end: the CR of the CRLF arrived
  std::size_t trailer_bytes_ = 0;
};

}  // namespace loomflow::serve::http
