// RequestParser (the pure, incremental HTTP/1.1 request parser under `loomflow serve`): requests
// parse the same however the bytes are split, every limit and every refusal has its status, code
// and precise message, and one request is consumed at a time.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "loomflow/serve/http/request_parser.hpp"
#include "loomflow/serve/http/uri.hpp"

using loomflow::serve::http::decode_path;
using loomflow::serve::http::decode_query_component;
using loomflow::serve::http::ParserLimits;
using loomflow::serve::http::Request;
using loomflow::serve::http::RequestParser;

namespace {

struct Parsed {
  RequestParser::Status status = RequestParser::Status::head;
  Request request;
  int error_status = 0;
  std::string error_code;
  std::string error_message;
  std::size_t consumed = 0;
  bool keep_alive = false;
};

ParserLimits small_limits() { return ParserLimits{1024, 4096}; }

Parsed finish(RequestParser& parser, std::size_t consumed) {
  Parsed out;
  out.status = parser.status();
  out.consumed = consumed;
  if (parser.failed()) {
    out.error_status = parser.error().status;
    out.error_code = parser.error().code;
    out.error_message = parser.error().message;
  } else {
    out.request = parser.request();
    out.keep_alive = parser.keep_alive();
  }
  return out;
}

// Feeds everything it can in as few calls as possible (the parser pauses after the head).
Parsed parse_whole(std::string_view bytes, ParserLimits limits = small_limits()) {
  RequestParser parser(limits);
  std::size_t consumed = 0;
  while (consumed < bytes.size() && !parser.complete() && !parser.failed()) {
    const std::size_t used = parser.feed(bytes.substr(consumed));
    consumed += used;
    if (used == 0) break;
  }
  return finish(parser, consumed);
}

// Feeds one byte per call.
Parsed parse_bytewise(std::string_view bytes, ParserLimits limits = small_limits()) {
  RequestParser parser(limits);
  std::size_t consumed = 0;
  while (consumed < bytes.size() && !parser.complete() && !parser.failed()) {
    const std::size_t used = parser.feed(bytes.substr(consumed, 1));
    consumed += used;
    if (used == 0) break;
  }
  return finish(parser, consumed);
}

void expect_same(const Parsed& a, const Parsed& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.consumed, b.consumed);
  EXPECT_EQ(a.error_status, b.error_status);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.request.method, b.request.method);
  EXPECT_EQ(a.request.target, b.request.target);
  EXPECT_EQ(a.request.path, b.request.path);
  EXPECT_EQ(a.request.query, b.request.query);
  EXPECT_EQ(a.request.headers, b.request.headers);
  EXPECT_EQ(a.request.body, b.request.body);
  EXPECT_EQ(a.keep_alive, b.keep_alive);
}

Parsed expect_error(std::string_view bytes, int status, std::string_view code, ParserLimits limits = small_limits()) {
  const Parsed whole = parse_whole(bytes, limits);
  EXPECT_EQ(whole.status, RequestParser::Status::failed) << bytes;
  EXPECT_EQ(whole.error_status, status) << whole.error_message;
  EXPECT_EQ(whole.error_code, code) << whole.error_message;
  EXPECT_FALSE(whole.error_message.empty());
  expect_same(whole, parse_bytewise(bytes, limits));
  return whole;
}

}  // namespace

TEST(HttpRequestParser, ParsesAGetWithLowerCasedNamesAndTrimmedValues) {
  const Parsed parsed = parse_whole("GET /v1/runs?limit=5 HTTP/1.1\r\nHost: example.com\r\nX-Trace-ID:   abc \t\r\n\r\n");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete);
  EXPECT_EQ(parsed.request.method, "GET");
  EXPECT_EQ(parsed.request.target, "/v1/runs?limit=5");
  EXPECT_EQ(parsed.request.path, "/v1/runs");
  EXPECT_EQ(parsed.request.query, "limit=5");
  ASSERT_EQ(parsed.request.headers.size(), 2u);
  EXPECT_EQ(parsed.request.headers[1].first, "x-trace-id");
  EXPECT_EQ(parsed.request.headers[1].second, "abc");
  EXPECT_EQ(parsed.request.header("host"), "example.com");
  EXPECT_EQ(parsed.request.body, "");
}

TEST(HttpRequestParser, ByteByByteFeedGivesTheSameRequestAsOneFeed) {
  const std::vector<std::string> requests = {
      "GET /a%20b?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":\"bcd\"}",
      "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n",
      "PUT /bare HTTP/1.0\nConnection: keep-alive\nContent-Length: 3\n\nabc",
      "\r\n\r\nDELETE /x HTTP/1.1\r\nConnection: close\r\n\r\n",
  };
  for (const std::string& request : requests) {
    const Parsed whole = parse_whole(request);
    EXPECT_EQ(whole.status, RequestParser::Status::complete) << request << whole.error_message;
    EXPECT_EQ(whole.consumed, request.size());
    expect_same(whole, parse_bytewise(request));
  }
}

TEST(HttpRequestParser, ByteByByteFeedGivesTheSameErrorAsOneFeed) {
  const std::vector<std::string> requests = {
      "GET / HTTP/2.0\r\n\r\n",
      "GET /%zz HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n",
      "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n",
  };
  for (const std::string& request : requests) {
    const Parsed whole = parse_whole(request);
    EXPECT_EQ(whole.status, RequestParser::Status::failed) << request;
    expect_same(whole, parse_bytewise(request));
  }
}

TEST(HttpRequestParser, ToleratesBareLineFeeds) {
  const Parsed parsed = parse_whole("GET /lf HTTP/1.1\nHost: h\n\n");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete);
  EXPECT_EQ(parsed.request.path, "/lf");
  EXPECT_EQ(parsed.request.header("host"), "h");
}

TEST(HttpRequestParser, IgnoresBlankLinesBeforeTheRequestLine) {
  RequestParser parser(small_limits());
  EXPECT_EQ(parser.feed("\r\n\r\n"), 4u);
  EXPECT_FALSE(parser.started());
  parser.feed("GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(parser.complete());
}

TEST(HttpRequestParser, PercentDecodesThePathButLeavesTheQueryRaw) {
  const Parsed parsed = parse_whole("GET /v1/runs/a%2Fb%20c?q=a%20b+c HTTP/1.1\r\n\r\n");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete);
  EXPECT_EQ(parsed.request.path, "/v1/runs/a/b c");
  EXPECT_EQ(parsed.request.query, "q=a%20b+c");
  EXPECT_EQ(parsed.request.query_param("q"), "a b c");
}

TEST(HttpRequestParser, QueryParamsAreDecodedAndMissingOnesAreEmpty) {
  Request request;
  request.query = "model=gpt%2D4&stream=true&empty=&flag&name=a+b";
  EXPECT_EQ(request.query_param("model"), "gpt-4");
  EXPECT_EQ(request.query_param("stream"), "true");
  EXPECT_EQ(request.query_param("empty"), "");
  EXPECT_EQ(request.query_param("flag"), "");
  EXPECT_EQ(request.query_param("name"), "a b");
  EXPECT_EQ(request.query_param("missing"), "");
  EXPECT_EQ(decode_query_component("100%"), "100%");  // invalid escapes stay literal
}

TEST(HttpRequestParser, AnEncodedNulInThePathIs400) {
  const Parsed parsed = expect_error("GET /a%00b HTTP/1.1\r\n\r\n", 400, "invalid_path");
  EXPECT_NE(parsed.error_message.find("%00"), std::string::npos) << parsed.error_message;
}

TEST(HttpRequestParser, AnInvalidPercentEscapeIs400NamingIt) {
  const Parsed parsed = expect_error("GET /a%G1 HTTP/1.1\r\n\r\n", 400, "invalid_path");
  EXPECT_NE(parsed.error_message.find("'%G1'"), std::string::npos) << parsed.error_message;
  expect_error("GET /a% HTTP/1.1\r\n\r\n", 400, "invalid_path");
  EXPECT_FALSE(decode_path("/a%4").has_value());
}

TEST(HttpRequestParser, ObsoleteLineFoldingIs400) {
  const Parsed parsed = expect_error("GET / HTTP/1.1\r\nX-Long: a\r\n\tb\r\n\r\n", 400, "malformed_header");
  EXPECT_NE(parsed.error_message.find("folding"), std::string::npos) << parsed.error_message;
}

TEST(HttpRequestParser, WhitespaceBeforeTheColonIs400) {
  expect_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "malformed_header");
}

TEST(HttpRequestParser, AHeaderLineWithoutColonIs400) {
  expect_error("GET / HTTP/1.1\r\nnonsense\r\n\r\n", 400, "malformed_header");
}

TEST(HttpRequestParser, AControlCharacterInAHeaderValueIs400) {
  using namespace std::string_literals;
  expect_error("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, 400, "malformed_header");
}

TEST(HttpRequestParser, AMalformedRequestLineIs400) {
  expect_error("GET /\r\n\r\n", 400, "malformed_request_line");
  expect_error("GET  / HTTP/1.1\r\n\r\n", 400, "malformed_request_line");
  expect_error("GET / HTTP/1.1 extra\r\n\r\n", 400, "malformed_request_line");
  expect_error("GET / FTP/1.1\r\n\r\n", 400, "malformed_request_line");
  expect_error("G(T / HTTP/1.1\r\n\r\n", 400, "malformed_request_line");
  expect_error("GET nopath HTTP/1.1\r\n\r\n", 400, "invalid_target");
}

TEST(HttpRequestParser, AnHttpVersionOtherThan10Or11Is505) {
  const Parsed parsed = expect_error("GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported");
  EXPECT_NE(parsed.error_message.find("HTTP/2.0"), std::string::npos);
  expect_error("GET / HTTP/1.2\r\n\r\n", 505, "http_version_not_supported");
  expect_error("GET / HTTP/0.9\r\n\r\n", 505, "http_version_not_supported");
}

TEST(HttpRequestParser, HeadersAboveTheLimitAre431) {
  const std::string request = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n";
  const Parsed parsed = expect_error(request, 431, "headers_too_large");
  EXPECT_EQ(parsed.error_message, "the request line and headers exceed the limit of 1024 bytes");
}

TEST(HttpRequestParser, HeadersExactlyAtTheLimitAreAccepted) {
  std::string request = "GET / HTTP/1.1\r\nX: \r\n\r\n";
  request.insert(request.size() - 4, std::string(1024 - request.size(), 'v'));
  ASSERT_EQ(request.size(), 1024u);
  EXPECT_EQ(parse_whole(request).status, RequestParser::Status::complete);
}

TEST(HttpRequestParser, AContentLengthAboveTheLimitIs413NamingBothSizes) {
  const Parsed parsed = expect_error("POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413, "request_too_large",
                                     ParserLimits{16 * 1024, 1048576});
  EXPECT_EQ(parsed.error_message, "request body of 2000000 bytes exceeds the limit of 1048576 bytes");
}

TEST(HttpRequestParser, AHugeContentLengthIs413NotAnOverflow) {
  expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "request_too_large");
}

TEST(HttpRequestParser, AChunkedBodyAboveTheLimitIs413) {
  std::string request = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) request += "3e8\r\n" + std::string(1000, 'a') + "\r\n";
  request += "0\r\n\r\n";
  const Parsed parsed = expect_error(request, 413, "request_too_large");
  EXPECT_NE(parsed.error_message.find("exceeds the limit of 4096 bytes"), std::string::npos) << parsed.error_message;
}

TEST(HttpRequestParser, PostPutAndPatchWithoutALengthAre411) {
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    const Parsed parsed = expect_error(std::string(method) + " /x HTTP/1.1\r\nHost: h\r\n\r\n", 411, "length_required");
    EXPECT_NE(parsed.error_message.find(method), std::string::npos);
  }
}

TEST(HttpRequestParser, AGetWithoutALengthHasAnEmptyBody) {
  const Parsed parsed = parse_whole("GET / HTTP/1.1\r\n\r\nGET");
  EXPECT_EQ(parsed.status, RequestParser::Status::complete);
  EXPECT_EQ(parsed.request.body, "");
  EXPECT_EQ(parsed.consumed, 18u);
}

TEST(HttpRequestParser, ATransferEncodingOtherThanChunkedIs501) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding");
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported_transfer_encoding");
}

TEST(HttpRequestParser, BothContentLengthAndTransferEncodingAre400) {
  expect_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "conflicting_framing");
}

TEST(HttpRequestParser, AnInvalidContentLengthIs400) {
  for (const char* value : {"abc", "-1", "1.5", "+5", "0x10"}) {
    const Parsed parsed = expect_error("POST / HTTP/1.1\r\nContent-Length: " + std::string(value) + "\r\n\r\n", 400,
                                       "invalid_content_length");
    EXPECT_NE(parsed.error_message.find(value), std::string::npos) << parsed.error_message;
  }
  expect_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid_content_length");
}

TEST(HttpRequestParser, ConflictingContentLengthsAre400) {
  expect_error("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400, "invalid_content_length");
  expect_error("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello", 400, "invalid_content_length");
}

TEST(HttpRequestParser, EqualRepeatedContentLengthsAreOneLength) {
  const Parsed parsed = parse_whole("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\nhello");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete) << parsed.error_message;
  EXPECT_EQ(parsed.request.body, "hello");
}

TEST(HttpRequestParser, DechunksIgnoringExtensionsAndSkippingTrailers) {
  const Parsed parsed = parse_whole(
      "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "4;ext=1\r\nWiki\r\n5 ; other\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\nMore: y\r\n\r\nNEXT");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete) << parsed.error_message;
  EXPECT_EQ(parsed.request.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(parsed.request.header("trailer"), "");
  EXPECT_EQ(parsed.consumed, std::string_view(
      "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "4;ext=1\r\nWiki\r\n5 ; other\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\nMore: y\r\n\r\n").size());
}

TEST(HttpRequestParser, AnInvalidChunkSizeIs400) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, "invalid_chunked_body");
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, "invalid_chunked_body");
}

TEST(HttpRequestParser, ChunkDataLongerThanItsSizeIs400) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400, "invalid_chunked_body");
}

TEST(HttpRequestParser, ChunkedTrailersAboveTheHeaderLimitAre431) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + std::string(2000, 't') + "\r\n\r\n", 431,
               "headers_too_large");
}

TEST(HttpRequestParser, StopsAfterOneRequestLeavingPipelinedBytesUnconsumed) {
  const std::string first = "POST /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab";
  const std::string second = "GET /2 HTTP/1.1\r\n\r\n";
  RequestParser parser(small_limits());
  std::size_t used = parser.feed(first + second);  // the head
  used += parser.feed(std::string_view(first + second).substr(used));
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(parser.request().body, "ab");

  parser.reset();
  EXPECT_FALSE(parser.started());
  EXPECT_EQ(parser.feed(second), second.size());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.request().path, "/2");
}

TEST(HttpRequestParser, PausesAfterTheHeadAndReportsExpectContinue) {
  RequestParser parser(small_limits());
  const std::string head = "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  EXPECT_EQ(parser.feed(head + "da"), head.size());
  EXPECT_TRUE(parser.head_complete());
  EXPECT_FALSE(parser.complete());
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_EQ(parser.feed("data"), 4u);
  EXPECT_TRUE(parser.complete());
  EXPECT_FALSE(parser.expects_continue());  // nothing more to wait for
  EXPECT_EQ(parser.request().body, "data");
}

TEST(HttpRequestParser, ExpectContinueIsIgnoredForHttp10) {
  RequestParser parser(small_limits());
  parser.feed("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_FALSE(parser.expects_continue());
}

TEST(HttpRequestParser, KeepAliveFollowsTheVersionAndTheConnectionHeader) {
  EXPECT_TRUE(parse_whole("GET / HTTP/1.1\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse_whole("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse_whole("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(parse_whole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse_whole("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").keep_alive);
}

TEST(HttpRequestParser, AnAbsoluteFormTargetGivesItsPath) {
  const Parsed parsed = parse_whole("GET http://example.com:8080/v1/models?x=1 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(parsed.status, RequestParser::Status::complete);
  EXPECT_EQ(parsed.request.path, "/v1/models");
  EXPECT_EQ(parsed.request.query, "x=1");
  EXPECT_EQ(parse_whole("GET http://example.com HTTP/1.1\r\n\r\n").request.path, "/");
}

TEST(HttpRequestParser, StartedIsFalseUntilTheFirstByteOfARequest) {
  RequestParser parser(small_limits());
  EXPECT_FALSE(parser.started());
  parser.feed("G");
  EXPECT_TRUE(parser.started());
}
