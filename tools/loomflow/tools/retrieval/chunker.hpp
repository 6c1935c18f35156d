// loomflow/tools/retrieval/chunker.hpp — splits a document into overlapping chunks for embedding.
//
// A chunk aims at `target_chars` bytes and ends, in order of preference, at a paragraph break, the
// end of a sentence, or between words, found in the second half of its window; only text without
// any of these is cut mid-word. Consecutive chunks overlap by about `overlap_chars` bytes (the next
// chunk starts at a word boundary inside that overlap). Cuts never split a UTF-8 multi-byte
// character. Every chunk records its source and its byte offsets [begin, end) in the document;
// its text is the document's bytes in that range with surrounding white space trimmed (the offsets
// are those of the trimmed text). White-space-only chunks are dropped.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::retrieval {

struct ChunkerOptions {
  std::size_t target_chars = 800;   // bytes per chunk at most (default 800); must be > overlap_chars
  std::size_t overlap_chars = 100;  // bytes shared by consecutive chunks, about (default 100)
};

struct Chunk {
  std::string source;       // where the document came from, e.g. its path
  std::size_t index = 0;    // position of the chunk in its document, from 0
  std::size_t begin = 0;    // byte offset of the first byte of `text` in the document
  std::size_t end = 0;      // byte offset just past the last byte of `text`
  std::string text;
};

// Fails (invalid_argument) when target_chars is 0 or not larger than overlap_chars.
Expected<std::vector<Chunk>> chunk_text(std::string source, std::string_view text, const ChunkerOptions& options = {});

}  // namespace loomflow::retrieval
