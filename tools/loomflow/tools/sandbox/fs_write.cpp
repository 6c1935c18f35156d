// fs_write and fs_edit: whole-file atomic writes, and exact-text replacement.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "loomflow/tools/sandbox/fs_context.hpp"
#include "loomflow/tools/typed.hpp"

namespace loomflow::tools::sandbox {

namespace {

struct WriteArgs {
  std::string path;
  std::string content;
  std::optional<bool> create_dirs;
};
LOOMFLOW_TOOL_ARGS(WriteArgs, path, content, create_dirs);

void describe(Describe<WriteArgs>& d) {
  d.field(&WriteArgs::path, "File path, relative to the root.")
      .field(&WriteArgs::content, "The whole new content of the file.")
      .field(&WriteArgs::create_dirs, "Create missing parent directories (default false).");
}

struct EditArgs {
  std::string path;
  std::string old_text;
  std::string new_text;
  std::optional<bool> replace_all;
};
LOOMFLOW_TOOL_ARGS(EditArgs, path, old_text, new_text, replace_all);

void describe(Describe<EditArgs>& d) {
  d.field(&EditArgs::path, "File path, relative to the root.")
      .field(&EditArgs::old_text, "Exact text to replace; must occur exactly once unless replace_all is true.")
      .field(&EditArgs::new_text, "Replacement text.")
      .field(&EditArgs::replace_all, "Replace every occurrence (default false).");
}

// Refuses a last component that is a link or a directory; `mode` receives the existing file's
// permission bits (or 0644 for a new file).
Expected<void> check_target(int dir_fd, const std::string& name, std::string_view tool, std::string_view shown,
                            bool must_exist, mode_t& mode) {
  struct stat st {};
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT && !must_exist) {
      mode = 0644;
      return {};
    }
    return path_error(ErrorCode::tool_error, tool, shown, describe_open_errno(errno));
  }
  if (S_ISLNK(st.st_mode))
    return path_error(ErrorCode::tool_error, tool, shown,
                      "is a symbolic link; write to the path of the file it points to instead");
  if (S_ISDIR(st.st_mode)) return path_error(ErrorCode::tool_error, tool, shown, "is a directory");
  if (!S_ISREG(st.st_mode)) return path_error(ErrorCode::tool_error, tool, shown, "is not a regular file");
  mode = st.st_mode & 07777;
  return {};
}

Expected<std::string> write_file(const FsContext& fs, const ToolContext& ctx, const WriteArgs& args) {
  constexpr const char* kTool = "fs_write";
  if (args.content.size() > fs.options.max_write_bytes)
    return path_error(ErrorCode::tool_error, kTool, args.path,
                      "cannot take " + std::to_string(args.content.size()) + " bytes of content: the limit is " +
                          std::to_string(fs.options.max_write_bytes) + " bytes (max_write_bytes)");
  auto base = call_base(fs, kTool, ctx);
  if (!base) return std::move(base).error();
  auto relative = resolve_argument(*base, kTool, args.path);
  if (!relative) return std::move(relative).error();
  notify_before_open(fs, *relative);
  std::string name;
  auto dir = open_parent(*base, *relative, args.create_dirs.value_or(false), kTool, args.path, name);
  if (!dir) return std::move(dir).error();
  mode_t mode = 0644;
  if (auto ok = check_target(dir->get(), name, kTool, args.path, false, mode); !ok) return ok.error();
  if (auto ok = write_atomically(dir->get(), name, args.content, mode, kTool, args.path); !ok) return ok.error();
  return "wrote " + std::to_string(args.content.size()) + " bytes to '" + *relative + "'";
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

Expected<std::string> edit_file(const FsContext& fs, const ToolContext& ctx, const EditArgs& args) {
  constexpr const char* kTool = "fs_edit";
  if (args.old_text.empty()) return Error{ErrorCode::tool_error, "fs_edit: old_text must not be empty"};
  auto base = call_base(fs, kTool, ctx);
  if (!base) return std::move(base).error();
  auto relative = resolve_argument(*base, kTool, args.path);
  if (!relative) return std::move(relative).error();
  notify_before_open(fs, *relative);
  std::string name;
  auto dir = open_parent(*base, *relative, false, kTool, args.path, name);
  if (!dir) return std::move(dir).error();
  mode_t mode = 0644;
  if (auto ok = check_target(dir->get(), name, kTool, args.path, true, mode); !ok) return ok.error();
  // O_NOFOLLOW: a link swapped in after the check above is refused (ELOOP), not followed.
  UniqueFd file(openat(dir->get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!file) return path_error(ErrorCode::tool_error, kTool, args.path, describe_open_errno(errno));
  struct stat st {};
  if (fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return path_error(ErrorCode::tool_error, kTool, args.path, "is not a regular file");
  auto content = read_file_capped(file.get(), fs.options.max_write_bytes, kTool, args.path);
  if (!content) return std::move(content).error();
  const std::size_t count = count_occurrences(*content, args.old_text);
  if (count == 0) return path_error(ErrorCode::tool_error, kTool, args.path, "does not contain old_text");
  const bool all = args.replace_all.value_or(false);
  if (count > 1 && !all)
    return path_error(ErrorCode::tool_error, kTool, args.path,
                      "contains old_text " + std::to_string(count) +
                          " times; include more surrounding text to make it unique, or set replace_all");
  std::string edited;
  edited.reserve(content->size());
  std::size_t from = 0;
  for (std::size_t at = content->find(args.old_text); at != std::string::npos;
       at = all ? content->find(args.old_text, from) : std::string::npos) {
    edited.append(*content, from, at - from);
    edited += args.new_text;
    from = at + args.old_text.size();
  }
  edited.append(*content, from, std::string::npos);
  if (edited.size() > fs.options.max_write_bytes)
    return path_error(ErrorCode::tool_error, kTool, args.path,
                      "would grow past the limit of " + std::to_string(fs.options.max_write_bytes) +
                          " bytes (max_write_bytes)");
  if (auto ok = write_atomically(dir->get(), name, edited, mode, kTool, args.path); !ok) return ok.error();
  return "replaced " + std::to_string(all ? count : 1) + (count == 1 || !all ? " occurrence" : " occurrences") +
         " in '" + *relative + "'";
}

}  // namespace

Expected<Tool> make_fs_write(FsShared fs) {
  return typed_tool<WriteArgs>(
      "fs_write",
      "Writes a file under the root, replacing it whole (atomically: readers see the old or the new "
      "content, never a mix). Set create_dirs to make missing parent directories.",
      [fs](const ToolContext& ctx, const WriteArgs& args) { return write_file(*fs, ctx, args); },
      ToolOptions{.blocking = true, .idempotent = true});
}

Expected<Tool> make_fs_edit(FsShared fs) {
  return typed_tool<EditArgs>(
      "fs_edit",
      "Edits a text file under the root by replacing old_text with new_text. old_text must match exactly and "
      "occur once (or set replace_all to replace every occurrence).",
      [fs](const ToolContext& ctx, const EditArgs& args) { return edit_file(*fs, ctx, args); },
      ToolOptions{.blocking = true});
}

}  // namespace loomflow::tools::sandbox
