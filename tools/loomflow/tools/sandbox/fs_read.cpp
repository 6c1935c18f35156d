// fs_read: the text of one file, by lines, capped at max_read_bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include "loomflow/tools/sandbox/fs_context.hpp"
#include "loomflow/tools/typed.hpp"

namespace loomflow::tools::sandbox {

namespace {

struct ReadArgs {
  std::string path;
  std::optional<std::int64_t> offset;
  std::optional<std::int64_t> limit;
};
LOOMFLOW_TOOL_ARGS(ReadArgs, path, offset, limit);

void describe(Describe<ReadArgs>& d) {
  d.field(&ReadArgs::path, "File path, relative to the root.")
      .field(&ReadArgs::offset, "First line to return, 1-based (default 1).")
      .field(&ReadArgs::limit, "Number of lines to return (default: to the end, within the size cap).");
}

constexpr const char* kTool = "fs_read";

Expected<std::string> read_text(const FsContext& fs, const ToolContext& ctx, const ReadArgs& args) {
  const std::int64_t first = args.offset.value_or(1);
  if (first < 1) return Error{ErrorCode::tool_error, "fs_read: offset must be at least 1 (lines are 1-based)"};
  if (args.limit && *args.limit < 1) return Error{ErrorCode::tool_error, "fs_read: limit must be at least 1"};
  auto base = call_base(fs, kTool, ctx);
  if (!base) return std::move(base).error();
  auto relative = resolve_argument(*base, kTool, args.path);
  if (!relative) return std::move(relative).error();
  notify_before_open(fs, *relative);
  // O_NONBLOCK: opening a FIFO must not hang the call; it is refused below as not a regular file.
  auto fd = open_beneath(base->fd, *relative, O_RDONLY | O_NONBLOCK, kTool, args.path);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (fstat(fd->get(), &st) != 0) return path_error(ErrorCode::tool_error, kTool, args.path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return path_error(ErrorCode::tool_error, kTool, args.path, "is a directory (use fs_list)");
  if (!S_ISREG(st.st_mode)) return path_error(ErrorCode::tool_error, kTool, args.path, "is not a regular file");

  const std::size_t cap = fs.options.max_read_bytes;
  // One past the last line wanted (saturating: huge offsets and limits must not overflow).
  constexpr std::int64_t kNoEnd = std::numeric_limits<std::int64_t>::max();
  const std::int64_t end = args.limit && *args.limit < kNoEnd - first ? first + *args.limit : kNoEnd;
  std::string out;
  std::int64_t line = 1;
  bool truncated = false;
  bool checked_binary = false;
  bool ended_with_newline = true;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(fd->get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return path_error(ErrorCode::tool_error, kTool, args.path, std::string("cannot be read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    std::string_view chunk(buffer, static_cast<std::size_t>(n));
    if (!checked_binary) {
      checked_binary = true;
      if (looks_binary(chunk))
        return path_error(ErrorCode::tool_error, kTool, args.path,
                          "looks like a binary file (" + std::to_string(st.st_size) + " bytes); fs_read returns text");
    }
    ended_with_newline = chunk.back() == '\n';
    bool done = false;
    for (char c : chunk) {
      if (line >= end) {
        done = true;
        break;
      }
      if (line >= first) {
        if (out.size() == cap) {
          out += c;  // one byte past the cap, so utf8_cut can see whether the cap splits a character
          truncated = true;
          done = true;
          break;
        }
        out += c;
      }
      if (c == '\n') ++line;
    }
    if (done) break;
  }
  if (truncated) {
    std::size_t cut = utf8_cut(out, cap);
    out.resize(cut);
    std::int64_t resume = first;
    for (char c : out) resume += c == '\n';
    return valid_utf8(out) + "\n[fs_read: truncated at " + std::to_string(cap) +
           " bytes (max_read_bytes); continue with offset=" + std::to_string(resume) + "]";
  }
  if (out.empty() && first > 1) {
    const std::int64_t lines = ended_with_newline ? line - 1 : line;
    if (first > lines)
      return path_error(ErrorCode::tool_error, kTool, args.path,
                        "has " + std::to_string(lines) + " lines; offset " + std::to_string(first) + " is past the end");
  }
  return valid_utf8(out);
}

}  // namespace

Expected<Tool> make_fs_read(FsShared fs) {
  return typed_tool<ReadArgs>(
      kTool,
      "Reads a text file under the root. Returns its text, optionally only the lines from `offset` (1-based) "
      "for `limit` lines; long output ends with a truncation marker telling the offset to continue from.",
      [fs](const ToolContext& ctx, const ReadArgs& args) { return read_text(*fs, ctx, args); },
      ToolOptions{.blocking = true, .idempotent = true});
}

}  // namespace loomflow::tools::sandbox
