// fs_list and fs_search: sorted, capped walks of a directory tree that never follow links.
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <regex>

#include "loomflow/tools/sandbox/fs_context.hpp"
#include "loomflow/tools/typed.hpp"

namespace loomflow::tools::sandbox {

namespace {

constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxShownLine = 400;      // bytes of a matching line shown
constexpr std::size_t kMaxRegexLine = 4096;     // std::regex recurses per character: bound the input

struct ListArgs {
  std::optional<std::string> path;
  std::optional<bool> recursive;
};
LOOMFLOW_TOOL_ARGS(ListArgs, path, recursive);

void describe(Describe<ListArgs>& d) {
  d.field(&ListArgs::path, "Directory, relative to the root (default: the root).")
      .field(&ListArgs::recursive, "List subdirectories too (default false). Links are listed, not followed.");
}

struct SearchArgs {
  std::string pattern;
  std::optional<std::string> path;
  std::optional<std::string> glob;
  std::optional<bool> regex;
};
LOOMFLOW_TOOL_ARGS(SearchArgs, pattern, path, glob, regex);

void describe(Describe<SearchArgs>& d) {
  d.field(&SearchArgs::pattern, "Text to find: a literal substring, or an ECMAScript regex when regex is true.")
      .field(&SearchArgs::path, "File or directory to search, relative to the root (default: the root).")
      .field(&SearchArgs::glob, "Only files whose name matches this glob, e.g. \"*.cpp\" (with a '/', the "
                                "path relative to the root must match).")
      .field(&SearchArgs::regex, "Treat pattern as a regular expression (default false: literal substring).");
}

// Names in `dir_fd`, sorted bytewise, without "." and "..".
std::vector<std::string> sorted_names(int dir_fd) {
  std::vector<std::string> names;
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return names;
  DIR* dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return names;
  }
  while (dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string joined(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

struct Lister {
  std::size_t cap;
  bool recursive;
  std::vector<std::string> lines;
  bool truncated = false;

  void walk(int dir_fd, const std::string& prefix, int depth) {
    for (const auto& name : sorted_names(dir_fd)) {
      if (lines.size() >= cap) {
        truncated = true;
        return;
      }
      struct stat st {};
      if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished meanwhile
      const std::string path = joined(prefix, name);
      if (S_ISDIR(st.st_mode)) {
        lines.push_back("dir - " + path + "/");
        if (recursive && depth < kMaxDepth) {
          UniqueFd child(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (child) walk(child.get(), path, depth + 1);
          if (truncated) return;
        }
      } else if (S_ISLNK(st.st_mode)) {
        char target[4097];
        ssize_t n = readlinkat(dir_fd, name.c_str(), target, sizeof target - 1);
        lines.push_back("link - " + path + " -> " + (n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : "?"));
      } else if (S_ISREG(st.st_mode)) {
        lines.push_back("file " + std::to_string(st.st_size) + " " + path);
      } else {
        lines.push_back("other - " + path);
      }
    }
  }
};

Expected<std::string> list_dir(const FsContext& fs, const ToolContext& ctx, const ListArgs& args) {
  constexpr const char* kTool = "fs_list";
  const std::string shown = args.path.value_or(".");
  auto base = call_base(fs, kTool, ctx);
  if (!base) return std::move(base).error();
  auto relative = resolve_argument(*base, kTool, args.path.value_or(""));
  if (!relative) return std::move(relative).error();
  notify_before_open(fs, *relative);
  auto dir = open_beneath(base->fd, *relative, O_RDONLY | O_DIRECTORY, kTool, shown);
  if (!dir) return std::move(dir).error();
  Lister lister{fs.options.max_list_entries, args.recursive.value_or(false)};
  lister.walk(dir->get(), *relative, 0);
  if (lister.lines.empty()) return std::string("(empty directory)");
  std::string out;
  for (const auto& line : lister.lines) out += valid_utf8(line) + "\n";
  if (lister.truncated)
    out += "[fs_list: truncated after " + std::to_string(fs.options.max_list_entries) + " entries (max_list_entries)]\n";
  return out;
}

struct Searcher {
  const FsContext& fs;
  std::string pattern;
  std::optional<std::regex> regex;
  std::optional<std::string> glob;
  std::vector<std::string> matches;
  std::size_t files = 0;
  bool match_cap = false;
  bool file_cap = false;

  bool stopped() const { return match_cap || file_cap; }

  bool glob_accepts(const std::string& name, const std::string& path) const {
    if (!glob) return true;
    if (glob->find('/') == std::string::npos) return fnmatch(glob->c_str(), name.c_str(), 0) == 0;
    return fnmatch(glob->c_str(), path.c_str(), FNM_PATHNAME) == 0;
  }

  bool line_matches(std::string_view line) const {
    if (!regex) return line.find(pattern) != std::string_view::npos;
    line = line.substr(0, kMaxRegexLine);
    return std::regex_search(line.begin(), line.end(), *regex);
  }

  // Searches one open regular file; skips large and binary files.
  void search_file(int fd, const std::string& path) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (static_cast<std::size_t>(st.st_size) > fs.options.max_search_file_bytes) return;
    if (files >= fs.options.max_search_files) {
      file_cap = true;
      return;
    }
    ++files;
    auto content = read_file_capped(fd, fs.options.max_search_file_bytes, "fs_search", path);
    if (!content || looks_binary(*content)) return;
    std::string_view text = *content;
    std::size_t number = 1;
    while (!text.empty()) {
      std::size_t end = text.find('\n');
      std::string_view line = text.substr(0, end);
      if (line_matches(line)) {
        if (matches.size() >= fs.options.max_search_matches) {
          match_cap = true;
          return;
        }
        std::size_t cut = utf8_cut(line, kMaxShownLine);
        matches.push_back(path + ":" + std::to_string(number) + ": " + valid_utf8(line.substr(0, cut)) +
                          (cut < line.size() ? " [...]" : ""));
      }
      if (end == std::string_view::npos) break;
      text.remove_prefix(end + 1);
      ++number;
    }
  }

  void walk(int dir_fd, const std::string& prefix, int depth) {
    for (const auto& name : sorted_names(dir_fd)) {
      if (stopped()) return;
      struct stat st {};
      if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const std::string path = joined(prefix, name);
      if (S_ISDIR(st.st_mode)) {
        if (depth >= kMaxDepth) continue;
        UniqueFd child(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (child) walk(child.get(), path, depth + 1);
      } else if (S_ISREG(st.st_mode) && glob_accepts(name, path)) {
        UniqueFd file(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (file) search_file(file.get(), path);
      }
    }
  }
};

Expected<std::string> search(const FsContext& fs, const ToolContext& ctx, const SearchArgs& args) {
  constexpr const char* kTool = "fs_search";
  if (args.pattern.empty()) return Error{ErrorCode::tool_error, "fs_search: pattern must not be empty"};
  Searcher searcher{fs, args.pattern, std::nullopt, args.glob};
  if (args.regex.value_or(false)) {
    try {
      searcher.regex.emplace(args.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{ErrorCode::tool_error, "fs_search: pattern '" + args.pattern + "' is not a valid regex: " + e.what()};
    }
  }
  const std::string shown = args.path.value_or(".");
  auto base = call_base(fs, kTool, ctx);
  if (!base) return std::move(base).error();
  auto relative = resolve_argument(*base, kTool, args.path.value_or(""));
  if (!relative) return std::move(relative).error();
  notify_before_open(fs, *relative);
  auto fd = open_beneath(base->fd, *relative, O_RDONLY | O_NONBLOCK, kTool, shown);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (fstat(fd->get(), &st) != 0) return path_error(ErrorCode::tool_error, kTool, shown, std::strerror(errno));
  try {
    if (S_ISDIR(st.st_mode))
      searcher.walk(fd->get(), *relative, 0);
    else if (S_ISREG(st.st_mode))
      searcher.search_file(fd->get(), relative->empty() ? shown : *relative);
    else
      return path_error(ErrorCode::tool_error, kTool, shown, "is not a regular file or directory");
  } catch (const std::regex_error& e) {
    return Error{ErrorCode::tool_error, "fs_search: pattern '" + args.pattern + "' is too complex: " + e.what()};
  }
  if (searcher.matches.empty())
    return "no matches for '" + args.pattern + "' (" + std::to_string(searcher.files) + " files searched)";
  std::string out;
  for (const auto& line : searcher.matches) out += line + "\n";
  if (searcher.match_cap)
    out += "[fs_search: stopped after " + std::to_string(fs.options.max_search_matches) +
           " matches (max_search_matches)]\n";
  if (searcher.file_cap)
    out += "[fs_search: stopped after " + std::to_string(fs.options.max_search_files) + " files (max_search_files)]\n";
  return out;
}

}  // namespace

Expected<Tool> make_fs_list(FsShared fs) {
  return typed_tool<ListArgs>(
      "fs_list",
      "Lists a directory under the root, one entry per line: \"<file|dir|link|other> <size or -> <path>\", "
      "sorted by path; paths are relative to the root.",
      [fs](const ToolContext& ctx, const ListArgs& args) { return list_dir(*fs, ctx, args); },
      ToolOptions{.blocking = true, .idempotent = true});
}

Expected<Tool> make_fs_search(FsShared fs) {
  return typed_tool<SearchArgs>(
      "fs_search",
      "Searches text files under the root for lines containing a literal substring (or matching an ECMAScript "
      "regex when regex is true). Returns \"path:line: text\" lines, capped.",
      [fs](const ToolContext& ctx, const SearchArgs& args) { return search(*fs, ctx, args); },
      ToolOptions{.blocking = true, .idempotent = true});
}

}  // namespace loomflow::tools::sandbox
