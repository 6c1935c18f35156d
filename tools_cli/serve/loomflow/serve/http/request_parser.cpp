#include "loomflow/serve/http/request_parser.hpp"

#include <algorithm>
#include <vector>

#include "loomflow/detail/utf8.hpp"
#include "loomflow/serve/http/http_text.hpp"
#include "loomflow/serve/http/uri.hpp"

namespace loomflow::serve::http {
namespace {

constexpr std::size_t kMaxChunkSizeLine = 1024;  // hex size plus extensions
constexpr std::size_t kMaxQuoted = 64;

// `text` in quotes for an error message: cut short and made valid UTF-8, since it is client input.
std::string quoted(std::string_view text) {
  std::string out = "'" + detail::valid_utf8(text.substr(0, kMaxQuoted));
  if (text.size() > kMaxQuoted) out += "...";
  return out + "'";
}

bool is_digits(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Control characters other than HTAB may not appear in field values or the request target.
bool has_control_char(std::string_view text, bool allow_tab) noexcept {
  return std::any_of(text.begin(), text.end(), [allow_tab](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && !(allow_tab && c == '\t')) || u == 0x7F;
  });
}

std::string_view without_cr(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

void RequestParser::reset() {
  status_ = Status::head;
  error_ = {};
  request_ = {};
  head_.clear();
  line_start_ = 0;
  http_minor_ = 1;
  keep_alive_ = true;
  expects_continue_ = false;
  body_mode_ = BodyMode::none;
  body_remaining_ = 0;
  chunk_stage_ = ChunkStage::size_line;
  line_.clear();
  saw_cr_ = false;
  trailer_bytes_ = 0;
}

void RequestParser::fail(int status, std::string code, std::string message) {
  status_ = Status::failed;
  error_ = RequestError{status, std::move(code), std::move(message)};
}

std::size_t RequestParser::feed(std::string_view bytes) {
  if (status_ == Status::head) return feed_head(bytes);  // returns at the end of the head (Expect)
  return status_ == Status::body ? feed_body(bytes) : 0;
}

std::size_t RequestParser::feed_head(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size()) {
    // Up to the line end, and never more than one byte past the limit: the error then comes at
    // the same byte however the input is split.
    std::size_t newline = bytes.find('\n', used);
    std::size_t end = newline == std::string_view::npos ? bytes.size() : newline + 1;
    if (end - used > limits_.max_header_bytes + 1 - head_.size()) {
      end = used + limits_.max_header_bytes + 1 - head_.size();
      newline = std::string_view::npos;
    }
    head_.append(bytes.substr(used, end - used));
    used = end;
    if (head_.size() > limits_.max_header_bytes) {
      fail(431, "headers_too_large",
           "the request line and headers exceed the limit of " + std::to_string(limits_.max_header_bytes) + " bytes");
      return used;
    }
    if (newline == std::string_view::npos) break;
    const std::string_view line = without_cr(std::string_view(head_).substr(line_start_, head_.size() - 1 - line_start_));
    if (!line.empty()) {
      line_start_ = head_.size();
      continue;
    }
    if (line_start_ == 0) {
      head_.clear();  // a blank line before the request line is tolerated (RFC 9112 §2.2)
      continue;
    }
    parse_head();
    return used;
  }
  return used;
}

void RequestParser::parse_head() {
  std::vector<std::string_view> lines;
  std::string_view rest(head_);
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    lines.push_back(without_cr(rest.substr(0, newline)));
    rest.remove_prefix(newline + 1);  // the head always ends in '\n'
  }
  lines.pop_back();  // the blank line that ended the head
  if (!parse_request_line(lines.front())) return;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (!parse_header_line(lines[i], i + 1)) return;
  }
  if (!decide_body()) return;
  head_.clear();
  head_.shrink_to_fit();
  status_ = body_mode_ == BodyMode::none ? Status::complete : Status::body;
}

bool RequestParser::parse_request_line(std::string_view line) {
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space = first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos || line.find(' ', second_space + 1) != std::string_view::npos) {
    fail(400, "malformed_request_line",
         "malformed request line " + quoted(line) + ": expected 'METHOD target HTTP/1.1' separated by single spaces");
    return false;
  }
  const std::string_view method = line.substr(0, first_space);
  const std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = line.substr(second_space + 1);

  const bool version_shape = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
                             version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9';
  if (!version_shape) {
    fail(400, "malformed_request_line", "malformed HTTP version " + quoted(version) + " in the request line");
    return false;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    fail(505, "http_version_not_supported",
         "HTTP version " + quoted(version) + " is not supported: use HTTP/1.1 or HTTP/1.0");
    return false;
  }
  http_minor_ = version[7] - '0';
  if (!is_token(method)) {
    fail(400, "malformed_request_line", "invalid method " + quoted(method) + " in the request line");
    return false;
  }
  if (target.empty()) {
    fail(400, "invalid_target", "the request target is empty");
    return false;
  }
  if (has_control_char(target, false)) {
    fail(400, "invalid_target", "the request target " + quoted(target) + " contains a control character");
    return false;
  }

  // origin-form "/path?query"; absolute-form "http://host/path?query" (RFC 9112 §3.2.2 says
  // servers accept it); asterisk-form "*" for OPTIONS.
  std::string_view path_and_query;
  if (target.front() == '/') {
    path_and_query = target;
  } else if (target == "*" && method == "OPTIONS") {
    path_and_query = target;
  } else if (const std::size_t scheme_end = target.find("://");
             scheme_end != std::string_view::npos &&
             (iequals(target.substr(0, scheme_end), "http") || iequals(target.substr(0, scheme_end), "https"))) {
    const std::string_view after_authority = target.substr(scheme_end + 3);
    const std::size_t path_start = after_authority.find_first_of("/?");
    path_and_query = path_start == std::string_view::npos ? std::string_view("/") : after_authority.substr(path_start);
  } else {
    fail(400, "invalid_target", "the request target " + quoted(target) + " must start with '/'");
    return false;
  }
  const std::size_t question = path_and_query.find('?');
  std::string_view raw_path = path_and_query.substr(0, question);
  if (raw_path.empty()) raw_path = "/";
  auto path = decode_path(raw_path);
  if (!path) {
    fail(400, "invalid_path", path.error().message);
    return false;
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  request_.path = std::move(*path);
  request_.query = question == std::string_view::npos ? std::string() : std::string(path_and_query.substr(question + 1));
  return true;
}

bool RequestParser::parse_header_line(std::string_view line, std::size_t line_number) {
  if (line.front() == ' ' || line.front() == '\t') {
    fail(400, "malformed_header",
         "header line " + std::to_string(line_number) +
             " starts with whitespace: obsolete line folding is not supported (RFC 9112 §5.2)");
    return false;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    fail(400, "malformed_header", "header line " + std::to_string(line_number) + " " + quoted(line) + " has no ':'");
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    fail(400, "malformed_header", "invalid header name " + quoted(name) + " on header line " +
                                      std::to_string(line_number) + " (no whitespace before ':')");
    return false;
  }
  const std::string_view value = trim(line.substr(colon + 1));
  if (has_control_char(value, true)) {
    fail(400, "malformed_header", "the value of header " + quoted(name) + " contains a control character");
    return false;
  }
  request_.headers.emplace_back(to_lower(name), std::string(value));
  return true;
}

bool RequestParser::decide_body() {
  std::string transfer_encoding;
  std::string connection;
  std::string content_length;  // the one value every Content-Length element agrees on
  bool has_content_length = false;
  bool has_transfer_encoding = false;
  for (const auto& [name, value] : request_.headers) {
    if (name == "transfer-encoding") {
      has_transfer_encoding = true;
      transfer_encoding += transfer_encoding.empty() ? value : "," + value;
    } else if (name == "connection") {
      connection += connection.empty() ? value : "," + value;
    } else if (name == "expect") {
      expects_continue_ = http_minor_ == 1 && iequals(value, "100-continue");
    } else if (name == "content-length") {
      // A list of equal values ("5, 5", or repeated headers) is one length (RFC 9110 §8.6).
      std::size_t elements = 0;
      std::string problem;
      for_each_list_element(value, [&](std::string_view element) {
        ++elements;
        if (!problem.empty()) return;
        if (!is_digits(element)) {
          problem = "invalid Content-Length " + quoted(value) + ": expected a decimal number of bytes";
        } else if (has_content_length && element != content_length) {
          problem = "conflicting Content-Length values " + quoted(content_length) + " and " + quoted(element);
        } else {
          has_content_length = true;
          content_length = std::string(element);
        }
      });
      if (elements == 0) problem = "empty Content-Length header";
      if (!problem.empty()) {
        fail(400, "invalid_content_length", problem);
        return false;
      }
    }
  }
  keep_alive_ = http_minor_ == 1 ? !list_has_token(connection, "close") : list_has_token(connection, "keep-alive");

  if (has_transfer_encoding && has_content_length) {
    fail(400, "conflicting_framing",
         "the request has both Content-Length and Transfer-Encoding: send only one of them");
    return false;
  }
  if (has_transfer_encoding) {
    bool only_chunked = true;
    std::size_t codings = 0;
    for_each_list_element(transfer_encoding, [&](std::string_view coding) {
      ++codings;
      only_chunked = only_chunked && iequals(coding, "chunked");
    });
    if (!only_chunked || codings != 1) {
      fail(501, "unsupported_transfer_encoding",
           "Transfer-Encoding " + quoted(transfer_encoding) + " is not supported: only 'chunked' is");
      return false;
    }
    body_mode_ = BodyMode::chunked;
    return true;
  }
  if (has_content_length) {
    const std::string_view digits = std::string_view(content_length).substr(
        std::min(content_length.find_first_not_of('0'), content_length.size()));
    // More than 18 significant digits cannot fit the limit (and could overflow): too large as is.
    const std::uint64_t length = digits.size() > 18 ? UINT64_MAX : std::stoull("0" + std::string(digits));
    if (length > limits_.max_body_bytes) {
      fail(413, "request_too_large",
           "request body of " + std::string(digits) + " bytes exceeds the limit of " +
               std::to_string(limits_.max_body_bytes) + " bytes");
      return false;
    }
    body_remaining_ = length;
    body_mode_ = length == 0 ? BodyMode::none : BodyMode::length;
    return true;
  }
  if (request_.method == "POST" || request_.method == "PUT" || request_.method == "PATCH") {
    fail(411, "length_required",
         "a " + request_.method + " request needs a Content-Length header or Transfer-Encoding: chunked");
    return false;
  }
  return true;
}

std::size_t RequestParser::feed_body(std::string_view bytes) {
  if (body_mode_ == BodyMode::chunked) return feed_chunked(bytes);
  const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, bytes.size()));
  // Reserve for what arrived, not for what was announced: idle clients announcing large bodies
  // must not pin memory.
  if (request_.body.empty()) request_.body.reserve(take);
  request_.body.append(bytes.substr(0, take));
  body_remaining_ -= take;
  if (body_remaining_ == 0) status_ = Status::complete;
  return take;
}

std::size_t RequestParser::feed_chunked(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && status_ == Status::body) {
    switch (chunk_stage_) {
      case ChunkStage::size_line:
      case ChunkStage::trailer: {
        // As in feed_head: at most one byte past the line's limit, so errors do not depend on
        // how the input is split.
        const std::size_t limit = chunk_stage_ == ChunkStage::size_line
                                      ? kMaxChunkSizeLine
                                      : limits_.max_header_bytes - std::min(trailer_bytes_, limits_.max_header_bytes);
        std::size_t newline = bytes.find('\n', used);
        std::size_t end = newline == std::string_view::npos ? bytes.size() : newline + 1;
        if (end - used > limit + 1 - std::min(line_.size(), limit)) {
          end = used + limit + 1 - std::min(line_.size(), limit);
          newline = std::string_view::npos;
        }
        line_.append(bytes.substr(used, end - used));
        used = end;
        if (chunk_stage_ == ChunkStage::size_line && line_.size() > kMaxChunkSizeLine) {
          fail(400, "invalid_chunked_body",
               "a chunk-size line is longer than " + std::to_string(kMaxChunkSizeLine) + " bytes");
          return used;
        }
        if (chunk_stage_ == ChunkStage::trailer && trailer_bytes_ + line_.size() > limits_.max_header_bytes) {
          fail(431, "headers_too_large",
               "the chunked body's trailers exceed the limit of " + std::to_string(limits_.max_header_bytes) +
                   " bytes");
          return used;
        }
        if (newline == std::string_view::npos) break;
        if (chunk_stage_ == ChunkStage::size_line) {
          parse_chunk_size_line();
        } else if (without_cr(std::string_view(line_).substr(0, line_.size() - 1)).empty()) {
          status_ = Status::complete;  // trailer fields are skipped: nothing downstream reads them
        } else {
          trailer_bytes_ += line_.size();
        }
        line_.clear();
        break;
      }
      case ChunkStage::data: {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, bytes.size() - used));
        request_.body.append(bytes.substr(used, take));
        used += take;
        body_remaining_ -= take;
        if (body_remaining_ == 0) {
          chunk_stage_ = ChunkStage::data_end;
          saw_cr_ = false;
        }
        break;
      }
      case ChunkStage::data_end: {
        const char c = bytes[used++];
        if (c == '\r' && !saw_cr_) {
          saw_cr_ = true;
        } else if (c == '\n') {
          chunk_stage_ = ChunkStage::size_line;
        } else {
          fail(400, "invalid_chunked_body", "chunk data is not followed by CRLF (the chunk size is wrong)");
          return used;
        }
        break;
      }
    }
  }
  return used;
}

void RequestParser::parse_chunk_size_line() {
  const std::string_view line = without_cr(std::string_view(line_).substr(0, line_.size() - 1));
  std::size_t digits = 0;
  std::uint64_t size = 0;
  bool too_large = false;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    if (size > (UINT64_MAX >> 4)) too_large = true;
    size = (size << 4) | static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  const std::string_view after = trim(line.substr(digits));
  if (digits == 0 || (!after.empty() && after.front() != ';')) {
    fail(400, "invalid_chunked_body", "invalid chunk-size line " + quoted(line) + ": expected a hexadecimal size");
    return;
  }
  if (too_large || size > limits_.max_body_bytes - request_.body.size()) {
    fail(413, "request_too_large",
         "chunked request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes (" +
             (too_large ? std::string("a chunk of more than 2^64 bytes")
                        : std::to_string(request_.body.size()) + " bytes received, next chunk " +
                              std::to_string(size) + " bytes") +
             ")");
    return;
  }
  if (size == 0) {
    chunk_stage_ = ChunkStage::trailer;  // chunk extensions (after ';') are ignored
    return;
  }
  body_remaining_ = size;
  chunk_stage_ = ChunkStage::data;
}

}  // namespace loomflow::serve::http
