// `loomflow index add|query`: the persistent vector index of the retrieval tool, from the shell.
// add: chunks, embeds and stores files (directories recursively; files holding NUL bytes are
// skipped as binary and reported); query: the k nearest chunks to a text. The index records its
// embedder: without --embedder, add and query use the recorded one (add on a new index: local).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "loomflow/tools/retrieval/embedder.hpp"
#include "loomflow/tools/retrieval/vector_index.hpp"

namespace loomflow::cli {

namespace {

namespace fs = std::filesystem;
using namespace loomflow::retrieval;
using Json = nlohmann::ordered_json;

bool index_exists(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / "db" / "CURRENT", ec);
}

// The embedder --embedder names, else the one the index recorded, else the local one.
Expected<std::shared_ptr<Embedder>> pick_embedder(const IndexArgs& args) {
  if (!args.embedder.empty()) return make_embedder(args.embedder);
  if (index_exists(args.index)) {
    auto info = VectorIndex::read_info(args.index);
    if (!info) return info.error();
    return make_embedder(info->embedder);
  }
  return make_embedder("local");
}

// Regular files under `paths` (directories recursively, hidden entries skipped), sorted, unique.
Expected<std::vector<std::string>> collect_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      files.push_back(fs::path(p).lexically_normal().string());
    } else if (fs::is_directory(p, ec)) {
      fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
      if (ec) return Error{ErrorCode::invalid_argument, p + ": " + ec.message()};
      for (; it != end; it.increment(ec)) {
        if (ec) return Error{ErrorCode::invalid_argument, p + ": " + ec.message()};
        const auto name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory(ec)) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file(ec)) files.push_back(it->path().lexically_normal().string());
      }
    } else {
      return Error{ErrorCode::invalid_argument, p + ": no such file or directory"};
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

Expected<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::invalid_argument, path + ": cannot read"};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first `max` bytes of `text` on one line, never cutting a UTF-8 character.
std::string preview(const std::string& text, std::size_t max) {
  std::size_t end = std::min(max, text.size());
  while (end > 0 && end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  std::string out = text.substr(0, end);
  std::replace_if(out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return end < text.size() ? out + "..." : out;
}

int fail(const char* command, const Error& error, int status) {
  std::cerr << "loomflow index " << command << ": " << error.message << "\n";
  return status;
}

}  // namespace

int index_add_command(const IndexArgs& args) {
  auto embedder = pick_embedder(args);
  if (!embedder) return fail("add", embedder.error(), 2);
  auto files = collect_files(args.paths);
  if (!files) return fail("add", files.error(), 2);
  const UserId user{args.user};
  std::shared_ptr<VectorIndex> index;  // opened once the dimension is known (remote embedders)
  std::size_t indexed = 0, chunks = 0, replaced = 0;
  std::vector<std::string> skipped;
  for (const auto& file : *files) {
    auto text = read_file(file);
    if (!text) return fail("add", text.error(), 1);
    if (text->find('\0') != std::string::npos) {
      skipped.push_back(file);
      continue;
    }
    auto pieces = chunk_text(file, *text);
    if (!pieces) return fail("add", pieces.error(), 1);
    std::vector<std::string> texts;
    for (const auto& c : *pieces) texts.push_back(c.text);
    auto vectors = (*embedder)->embed(texts);
    if (!vectors) return fail("add", Error{vectors.error().code, file + ": " + vectors.error().message}, 1);
    if (!index) {
      const std::size_t dim = !vectors->empty() ? vectors->front().size() : (*embedder)->dimension();
      if (dim == 0 && !index_exists(args.index)) continue;  // an empty file before any vector: nothing to store
      auto opened = VectorIndex::open(args.index, IndexOptions{.embedder = (*embedder)->name(), .dimension = dim});
      if (!opened) return fail("add", opened.error(), opened.error().code == ErrorCode::invalid_argument ? 2 : 1);
      index = *opened;
    }
    auto added = index->add(user, file, *pieces, *vectors);
    if (!added) return fail("add", Error{added.error().code, file + ": " + added.error().message}, 1);
    ++indexed;
    chunks += added->added;
    replaced += added->replaced;
  }
  if (index) {
    if (auto saved = index->checkpoint(); !saved) return fail("add", saved.error(), 1);
  }
  if (args.json) {
    Json out{{"index", args.index}, {"user", args.user}, {"embedder", (*embedder)->name()}, {"files", indexed},
             {"chunks", chunks},    {"replaced", replaced}, {"skipped", skipped}};
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "indexed " << indexed << " file(s), " << chunks << " chunk(s)";
    if (replaced > 0) std::cout << " (" << replaced << " old chunk(s) replaced)";
    std::cout << " into " << args.index << " for user " << args.user << " with " << (*embedder)->name() << "\n";
    if (!skipped.empty()) {
      std::cout << "skipped " << skipped.size() << " binary file(s):\n";
      for (const auto& s : skipped) std::cout << "  " << s << "\n";
    }
  }
  return 0;
}

int index_query_command(const IndexArgs& args) {
  if (args.k == 0 || args.k > 1000) {
    std::cerr << "loomflow index query: -k must be between 1 and 1000\n";
    return 2;
  }
  if (!index_exists(args.index)) {
    std::cerr << "loomflow index query: " << args.index << " holds no index (create one with `loomflow index add`)\n";
    return 2;
  }
  auto embedder = pick_embedder(args);
  if (!embedder) return fail("query", embedder.error(), 2);
  auto index = VectorIndex::open(args.index, IndexOptions{.embedder = (*embedder)->name(),
                                                          .dimension = (*embedder)->dimension(),
                                                          .create_if_missing = false});
  if (!index) return fail("query", index.error(), index.error().code == ErrorCode::invalid_argument ? 2 : 1);
  auto hits = (*index)->query(UserId{args.user}, **embedder, args.text, args.k);
  if (!hits) return fail("query", hits.error(), 1);
  if (args.json) {
    Json list = Json::array();
    for (const auto& h : *hits)
      list.push_back({{"source", h.source}, {"chunk", h.chunk_index}, {"begin", h.begin}, {"end", h.end},
                      {"score", h.score}, {"text", h.text}});
    Json out{{"query", args.text}, {"user", args.user}, {"hits", std::move(list)}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (hits->empty()) std::cout << "no chunks indexed for user " << args.user << "\n";
  for (std::size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    std::cout << i + 1 << ". " << std::fixed << std::setprecision(4) << h.score << "  " << h.source << " #"
              << h.chunk_index << " [" << h.begin << "-" << h.end << ")\n   " << preview(h.text, 160) << "\n";
  }
  return 0;
}

}  // namespace loomflow::cli
