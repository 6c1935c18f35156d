#include "loomflow/tools/retrieval/chunker.hpp"

#include <algorithm>

namespace loomflow::retrieval {

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// A cut at or before `pos` that falls between UTF-8 characters and is above `floor` (a chunk
// always advances); when the character holding `pos` starts at or below `floor`, the cut moves
// forward to that character's end instead.
std::size_t char_start(std::string_view text, std::size_t pos, std::size_t floor) {
  std::size_t cut = pos;
  while (cut > floor && cut < text.size() && is_continuation(text[cut])) --cut;
  if (cut > floor) return cut;
  cut = floor + 1;
  while (cut < text.size() && is_continuation(text[cut])) ++cut;
  return cut;
}

// Where a chunk starting at `from` should end, given it may not pass `limit` (< text.size()).
// Searches the second half of the window for a paragraph break, a sentence end, then white space.
std::size_t best_end(std::string_view text, std::size_t from, std::size_t limit) {
  const std::size_t low = from + (limit - from) / 2;
  const std::string_view window = text.substr(low, limit - low);
  if (auto p = window.rfind("\n\n"); p != std::string_view::npos) return low + p + 1;
  for (std::size_t i = window.size(); i-- > 1;) {
    const char prev = window[i - 1];
    if ((prev == '.' || prev == '!' || prev == '?') && is_space(window[i])) return low + i;
  }
  for (std::size_t i = window.size(); i-- > 0;)
    if (is_space(window[i])) return low + i;
  return char_start(text, limit, from);  // no boundary at all: cut between characters
}

// Where the next chunk starts: about `overlap` bytes before `end`, moved forward to a word start.
std::size_t next_start(std::string_view text, std::size_t begin, std::size_t end, std::size_t overlap) {
  if (overlap == 0 || end - begin <= overlap) return end;
  std::size_t pos = end - overlap;
  if (pos > 0 && !is_space(text[pos - 1])) {
    std::size_t word = pos;
    while (word < end && !is_space(text[word])) ++word;
    if (word < end) pos = word;  // else: one long word: keep the character cut
  }
  while (pos < end && is_space(text[pos])) ++pos;
  return char_start(text, std::max(pos, begin + 1), begin);
}

}  // namespace

Expected<std::vector<Chunk>> chunk_text(std::string source, std::string_view text, const ChunkerOptions& options) {
  if (options.target_chars == 0 || options.target_chars <= options.overlap_chars)
    return Error{ErrorCode::invalid_argument,
                 "chunker: target_chars (" + std::to_string(options.target_chars) +
                     ") must be larger than overlap_chars (" + std::to_string(options.overlap_chars) + ")"};
  std::vector<Chunk> chunks;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t limit = begin + options.target_chars;
    const std::size_t end = limit >= text.size() ? text.size() : best_end(text, begin, limit);
    std::size_t b = begin, e = end;
    while (b < e && is_space(text[b])) ++b;
    while (e > b && is_space(text[e - 1])) --e;
    if (e > b) chunks.push_back(Chunk{source, chunks.size(), b, e, std::string(text.substr(b, e - b))});
    if (end >= text.size()) break;
    begin = next_start(text, begin, end, options.overlap_chars);
  }
  return chunks;
}

}  // namespace loomflow::retrieval
