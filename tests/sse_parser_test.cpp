// SseParser follows the WHATWG event-stream rules on recorded provider streams, however the bytes
// are split, and on hand-written edge cases (line endings, comments, fields, truncation).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "loomflow/providers/wire/sse.hpp"

using loomflow::providers::wire::SseEvent;
using loomflow::providers::wire::SseParser;

namespace {

const std::string kProviders = LOOMFLOW_SHARED_DIR "/fixtures/providers";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every recorded .sse body of the OpenAI and Anthropic fixtures, sorted by path.
std::vector<std::filesystem::path> sse_fixtures() {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"/openai/chat", "/anthropic/messages", "/openai/responses-api"}) {
    for (const auto& entry : std::filesystem::directory_iterator(kProviders + dir)) {
      if (entry.path().extension() == ".sse") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct Parsed {
  std::vector<SseEvent> events;
  bool at_boundary = false;
};

Parsed parse_chunks(const std::vector<std::string_view>& chunks) {
  SseParser parser;
  Parsed out;
  for (std::string_view chunk : chunks) parser.feed(chunk, out.events);
  out.at_boundary = parser.at_boundary();
  return out;
}

Parsed parse_whole(std::string_view bytes) { return parse_chunks({bytes}); }

Parsed parse_bytewise(std::string_view bytes) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < bytes.size(); ++i) chunks.push_back(bytes.substr(i, 1));
  return parse_chunks(chunks);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t pos; (pos = text.find(from, start)) != std::string::npos; start = pos + from.size()) {
    out.append(text, start, pos - start).append(to);
  }
  return out.append(text, start);
}

// Whole, byte by byte and split in two at every position: the same events, ending at a boundary.
void expect_split_invariant(const std::string& bytes, const std::string& name) {
  const Parsed whole = parse_whole(bytes);
  EXPECT_TRUE(whole.at_boundary) << name;
  const Parsed bytewise = parse_bytewise(bytes);
  EXPECT_EQ(bytewise.events, whole.events) << name;
  EXPECT_TRUE(bytewise.at_boundary) << name;
  std::string_view view(bytes);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const Parsed split = parse_chunks({view.substr(0, cut), view.substr(cut)});
    ASSERT_EQ(split.events, whole.events) << name << " split at byte " << cut;
    ASSERT_TRUE(split.at_boundary) << name << " split at byte " << cut;
  }
}

}  // namespace

TEST(SseParser, TheFixturesAreFound) {
  EXPECT_GE(sse_fixtures().size(), 13u);
}

TEST(SseParser, EveryFixtureGivesTheSameEventsWholeByteByByteAndSplitAtEveryByte) {
  for (const auto& path : sse_fixtures()) {
    const std::string bytes = read_file(path);
    ASSERT_FALSE(bytes.empty()) << path;
    EXPECT_FALSE(parse_whole(bytes).events.empty()) << path;
    expect_split_invariant(bytes, path.string());
  }
}

TEST(SseParser, EveryFixtureWithCrlfLineEndsGivesTheSameEventsHoweverSplit) {
  for (const auto& path : sse_fixtures()) {
    const std::string lf = read_file(path);
    const std::string crlf = replace_all(lf, "\n", "\r\n");
    EXPECT_EQ(parse_whole(crlf).events, parse_whole(lf).events) << path;
    expect_split_invariant(crlf, path.string() + " (CRLF)");
  }
}

TEST(SseParser, EveryFixtureWithCrLineEndsGivesTheSameEventsHoweverSplit) {
  for (const auto& path : sse_fixtures()) {
    const std::string lf = read_file(path);
    const std::string cr = replace_all(lf, "\n", "\r");
    EXPECT_EQ(parse_whole(cr).events, parse_whole(lf).events) << path;
    expect_split_invariant(cr, path.string() + " (CR)");
  }
}

TEST(SseParser, TheOpenAiTextStreamIsDataOnlyChunksEndingInDone) {
  const Parsed parsed = parse_whole(read_file(kProviders + "/openai/chat/stream-text.sse"));
  ASSERT_GE(parsed.events.size(), 3u);
  for (const SseEvent& event : parsed.events) {
    EXPECT_TRUE(event.event.empty());
    EXPECT_TRUE(event.id.empty());
  }
  EXPECT_EQ(parsed.events.front().data.substr(0, 1), "{");
  EXPECT_EQ(parsed.events.back().data, "[DONE]");
}

TEST(SseParser, TheAnthropicTextStreamCarriesItsEventNamesInOrder) {
  const Parsed parsed = parse_whole(read_file(kProviders + "/anthropic/messages/stream-text.sse"));
  std::vector<std::string> names;
  for (const SseEvent& event : parsed.events) names.push_back(event.event);
  const std::vector<std::string> expected = {"message_start", "content_block_start", "ping",
                                             "content_block_delta", "content_block_delta", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(parsed.events[2].data, R"({"type": "ping"})");
}

TEST(SseParser, ACrlfSplitBetweenTwoFeedsEndsOneLineNotTwo) {
  // Were the LF read as a second, blank line, "x" would be dispatched on its own.
  const Parsed parsed = parse_chunks({"data: x\r", "\ndata: y\r\n\r\n"});
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "x\ny");
}

TEST(SseParser, ACrAtTheEndOfAFeedFollowedByAnEmptyFeedStillSwallowsTheLf) {
  const Parsed parsed = parse_chunks({"data: x\r", "", "\ndata: y\n\n"});
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "x\ny");
}

TEST(SseParser, TwoCrsInARowAreALineEndAndABlankLine) {
  const Parsed parsed = parse_chunks({"data: x\r", "\r", "data: y\r\r"});
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(parsed.events[0].data, "x");
  EXPECT_EQ(parsed.events[1].data, "y");
}

TEST(SseParser, MixedLineEndsInOneStreamAllEndLines) {
  const Parsed parsed = parse_whole("data: a\rdata: b\ndata: c\r\n\n");
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "a\nb\nc");
}

TEST(SseParser, CommentLinesAreIgnored) {
  const Parsed parsed = parse_whole(": keep-alive\n\ndata: a\n: in the middle\ndata: b\n\n:\n");
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "a\nb");
  EXPECT_TRUE(parsed.at_boundary);
}

TEST(SseParser, DataLinesOfOneEventAreJoinedWithLf) {
  const Parsed parsed = parse_whole("data: first\ndata: second\ndata: third\n\n");
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].data, "first\nsecond\nthird");
}

TEST(SseParser, ADataFieldWithoutColonHasAnEmptyValue) {
  const Parsed parsed = parse_whole("data\ndata\n\ndata\n\n");
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(parsed.events[0].data, "\n");
  EXPECT_EQ(parsed.events[1].data, "");
}

TEST(SseParser, OnlyOneLeadingSpaceIsStrippedFromAValue) {
  const Parsed parsed = parse_whole("data:  two spaces\n\ndata:none\n\ndata: a: b\n\n");
  ASSERT_EQ(parsed.events.size(), 3u);
  EXPECT_EQ(parsed.events[0].data, " two spaces");
  EXPECT_EQ(parsed.events[1].data, "none");
  EXPECT_EQ(parsed.events[2].data, "a: b");
}

TEST(SseParser, AnEventWithoutDataIsNotDispatched) {
  const Parsed parsed = parse_whole("event: ping\n\nid: 4\n\n\n\n");
  EXPECT_TRUE(parsed.events.empty());
  EXPECT_TRUE(parsed.at_boundary);
}

TEST(SseParser, EventAndIdFieldsBelongToTheirEventOnly) {
  const Parsed parsed = parse_whole("event: delta\nid: 7\ndata: one\n\ndata: two\n\n");
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(parsed.events[0], (SseEvent{"delta", "one", "7"}));
  EXPECT_EQ(parsed.events[1], (SseEvent{"", "two", ""}));
}

TEST(SseParser, AnEventTypeWithoutDataDoesNotLeakIntoTheNextEvent) {
  const Parsed parsed = parse_whole("event: lost\n\ndata: kept\n\n");
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].event, "");
}

TEST(SseParser, AnIdContainingNulIsIgnored) {
  const Parsed parsed = parse_whole(std::string("id: a\0b\ndata: x\n\n", 17));
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].id, "");
}

TEST(SseParser, RetryAndUnknownFieldsAreIgnored) {
  const Parsed parsed = parse_whole("retry: 3000\nfoo: bar\ndata: x\nDATA: y\n\n");
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0], (SseEvent{"", "x", ""}));
}

TEST(SseParser, ALineSplitInsideAMultiByteCharacterIsJoinedIntact) {
  const std::string bytes = "data: caf\xC3\xA9 \xE2\x9C\x93\n\n";
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const Parsed parsed = parse_chunks({std::string_view(bytes).substr(0, cut), std::string_view(bytes).substr(cut)});
    ASSERT_EQ(parsed.events.size(), 1u);
    EXPECT_EQ(parsed.events[0].data, "caf\xC3\xA9 \xE2\x9C\x93");
  }
}

TEST(SseParser, AStreamCutInsideALineIsNotAtABoundary) {
  const std::string bytes = read_file(kProviders + "/openai/chat/stream-text.sse");
  const Parsed parsed = parse_whole(std::string_view(bytes).substr(0, bytes.size() - 5));
  EXPECT_FALSE(parsed.at_boundary);
  EXPECT_NE(parsed.events.back().data, "[DONE]");
}

TEST(SseParser, AStreamCutBeforeTheBlankLineOfItsLastEventIsNotAtABoundary) {
  const std::string bytes = read_file(kProviders + "/openai/chat/stream-text.sse");
  ASSERT_EQ(bytes.substr(bytes.size() - 2), "\n\n");
  const Parsed parsed = parse_whole(std::string_view(bytes).substr(0, bytes.size() - 1));
  EXPECT_FALSE(parsed.at_boundary);
  EXPECT_NE(parsed.events.back().data, "[DONE]");
}

TEST(SseParser, AStreamCutAfterAnEventNameIsNotAtABoundary) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed("event: message_stop\n", events);
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(parser.at_boundary());
  parser.feed("data: {}\n\n", events);
  EXPECT_EQ(events.size(), 1u);
  EXPECT_TRUE(parser.at_boundary());
}

TEST(SseParser, AFreshParserIsAtABoundary) {
  EXPECT_TRUE(SseParser{}.at_boundary());
}
