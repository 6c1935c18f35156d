// The chunker: sizes, preferred boundaries, overlap, offsets and UTF-8 safety.
#include <gtest/gtest.h>

#include "loomflow/tools/retrieval/chunker.hpp"

using namespace loomflow;
using namespace loomflow::retrieval;

namespace {

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t j = 1; j < n; ++j)
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

std::string words(std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) text += "word" + std::to_string(i) + " ";
  return text;
}

}  // namespace

TEST(RetrievalChunker, AShortTextIsOneChunkWithItsOffsets) {
  auto chunks = chunk_text("a.txt", "  Hello world.  ").value();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].source, "a.txt");
  EXPECT_EQ(chunks[0].text, "Hello world.");
  EXPECT_EQ(chunks[0].begin, 2u);
  EXPECT_EQ(chunks[0].end, 14u);
}

TEST(RetrievalChunker, ChunksStayWithinTheTargetAndTheirTextIsTheDocumentsBytesAtTheirOffsets) {
  const std::string text = words(2000);
  auto chunks = chunk_text("doc", text, {.target_chars = 300, .overlap_chars = 50}).value();
  ASSERT_GT(chunks.size(), 10u);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].text.size(), 300u);
    EXPECT_EQ(chunks[i].index, i);
    EXPECT_EQ(text.substr(chunks[i].begin, chunks[i].end - chunks[i].begin), chunks[i].text);
  }
  EXPECT_EQ(chunks.back().end, text.size() - 1);  // the trailing space is trimmed
}

TEST(RetrievalChunker, ChunksEndBetweenWordsAndConsecutiveChunksOverlap) {
  const std::string text = words(2000);
  auto chunks = chunk_text("doc", text, {.target_chars = 300, .overlap_chars = 50}).value();
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(text[chunks[i].end], ' ') << "chunk " << i << " ends mid-word";
    EXPECT_TRUE(chunks[i + 1].begin == 0 || text[chunks[i + 1].begin - 1] == ' ') << "chunk " << i + 1;
    EXPECT_LT(chunks[i + 1].begin, chunks[i].end) << "chunks " << i << " and " << i + 1 << " do not overlap";
    EXPECT_GE(chunks[i + 1].begin + 70, chunks[i].end) << "overlap far above 50 bytes";
  }
}

TEST(RetrievalChunker, AParagraphBreakIsPreferredToASentenceEndAndASentenceEndToASpace) {
  std::string para = std::string(200, 'a') + " first sentence. " + std::string(60, 'b') + "\n\n" + std::string(30, 'c') +
                     " next. more words here " + std::string(400, 'd');
  auto chunks = chunk_text("p", para, {.target_chars = 320, .overlap_chars = 0}).value();
  ASSERT_GE(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text.back(), 'b');  // cut at the paragraph break, not at "next."
  std::string sentences = std::string(200, 'a') + " one. two three four" + std::string(150, 'e');
  auto s = chunk_text("s", sentences, {.target_chars = 300, .overlap_chars = 0}).value();
  EXPECT_EQ(s[0].text, std::string(200, 'a') + " one.");
}

TEST(RetrievalChunker, MultiByteCharactersAreNeverSplitEvenWithoutSpaces) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += (i % 3 == 0) ? "日" : (i % 3 == 1) ? "é" : "😀";
  for (std::size_t target : {7u, 50u, 101u, 800u}) {
    auto chunks = chunk_text("u", text, {.target_chars = target, .overlap_chars = target / 4}).value();
    ASSERT_FALSE(chunks.empty());
    for (const auto& c : chunks) EXPECT_TRUE(valid_utf8(c.text)) << "target " << target << " chunk " << c.index;
    EXPECT_EQ(chunks.back().end, text.size());
  }
}

TEST(RetrievalChunker, WhiteSpaceOnlyInputGivesNoChunksAndBadOptionsAreAnError) {
  EXPECT_TRUE(chunk_text("w", " \n\n\t ").value().empty());
  EXPECT_TRUE(chunk_text("e", "").value().empty());
  auto bad = chunk_text("x", "text", {.target_chars = 100, .overlap_chars = 100});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(bad.error().message.find("overlap_chars"), std::string::npos);
}
