#include "loomflow/tools/sandbox/filesystem.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "loomflow/tools/sandbox/fs_context.hpp"

namespace loomflow::tools {

namespace sandbox {

Expected<CallBase> call_base(const FsContext& fs, std::string_view tool, const ToolContext& ctx) {
  CallBase base;
  if (!fs.options.per_user) {
    base.fd = fs.root_fd.get();
    base.path = fs.root_path;
    return base;
  }
  auto dir = open_user_dir(fs.root_fd.get(), tool, ctx.user_id.str());
  if (!dir) return std::move(dir).error();
  base.owned = std::move(*dir);
  base.fd = base.owned.get();
  base.path = fs.root_path + "/" + ctx.user_id.str();
  return base;
}

Expected<std::string> resolve_argument(const CallBase& base, std::string_view tool, std::string_view path) {
  return normalize_relative(tool, base.path, path);
}

void notify_before_open(const FsContext& fs, const std::string& relative) {
  if (fs.options.before_open) fs.options.before_open(relative);
}

Expected<UniqueFd> open_parent(const CallBase& base, const std::string& relative, bool create_dirs,
                               std::string_view tool, std::string_view shown, std::string& name) {
  if (relative.empty()) return path_error(ErrorCode::tool_error, tool, shown, "is the root directory, not a file");
  const auto slash = relative.rfind('/');
  name = slash == std::string::npos ? relative : relative.substr(slash + 1);
  const std::string parent = slash == std::string::npos ? std::string() : relative.substr(0, slash);
  constexpr int kDirFlags = O_RDONLY | O_DIRECTORY;
  if (!create_dirs) return open_beneath(base.fd, parent, kDirFlags, tool, shown);
  // One prefix at a time, each opened beneath the base; a missing one is made inside its (already
  // confined) parent with mkdirat, which never follows a link.
  auto current = open_beneath(base.fd, "", kDirFlags, tool, shown);
  if (!current) return current;
  std::size_t start = 0;
  while (start < parent.size()) {
    std::size_t end = parent.find('/', start);
    if (end == std::string::npos) end = parent.size();
    const std::string prefix = parent.substr(0, end);
    const std::string component = parent.substr(start, end - start);
    auto next = open_beneath(base.fd, prefix, kDirFlags, tool, shown);
    if (!next) {
      if (mkdirat(current->get(), component.c_str(), 0755) != 0 && errno != EEXIST) return next;
      next = open_beneath(base.fd, prefix, kDirFlags, tool, shown);
      if (!next) return next;
    }
    current = std::move(next);
    start = end + 1;
  }
  return current;
}

Expected<std::string> read_file_capped(int fd, std::size_t limit, std::string_view tool, std::string_view shown) {
  std::string content;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return path_error(ErrorCode::tool_error, tool, shown, std::string("cannot be read: ") + std::strerror(errno));
    }
    if (n == 0) return content;
    if (content.size() + static_cast<std::size_t>(n) > limit)
      return path_error(ErrorCode::tool_error, tool, shown,
                        "is larger than the limit of " + std::to_string(limit) + " bytes (max_write_bytes)");
    content.append(buffer, static_cast<std::size_t>(n));
  }
}

Expected<void> write_atomically(int dir_fd, const std::string& name, std::string_view content, mode_t mode,
                                std::string_view tool, std::string_view shown) {
  std::random_device random;  // per call: no shared state between concurrent writers
  auto fail = [&](const char* what) {
    return path_error(ErrorCode::tool_error, tool, shown, std::string(what) + ": " + std::strerror(errno));
  };
  std::string temp;
  UniqueFd fd;
  for (int attempt = 0; attempt < 8 && !fd; ++attempt) {
    temp = ".loomflow-tmp-" + std::to_string(getpid()) + "-" + std::to_string(random()) + std::to_string(random());
    fd = UniqueFd(openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd && errno != EEXIST) return fail("cannot create a temporary file beside it");
  }
  if (!fd) return fail("cannot create a temporary file beside it");
  auto discard = [&] { unlinkat(dir_fd, temp.c_str(), 0); };
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto error = fail("cannot be written");
      discard();
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  if (fchmod(fd.get(), mode) != 0 || fsync(fd.get()) != 0) {
    auto error = fail("cannot be synced to disk");
    discard();
    return error;
  }
  fd = UniqueFd();
  if (renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    auto error = errno == EISDIR ? path_error(ErrorCode::tool_error, tool, shown, "is a directory")
                                 : fail("cannot be replaced");
    discard();
    return error;
  }
  fsync(dir_fd);  // the rename itself; best effort (some filesystems refuse fsync on directories)
  return {};
}

}  // namespace sandbox

namespace {

Expected<sandbox::FsShared> make_context(FilesystemOptions options) {
  auto fail = [](std::string message) { return Error{ErrorCode::invalid_argument, "filesystem tools: " + message}; };
  if (options.root.empty()) return fail("options.root is required");
  std::error_code ec;
  auto canonical = std::filesystem::canonical(options.root, ec);
  if (ec) return fail("root '" + options.root.string() + "' cannot be used: " + ec.message());
  if (!std::filesystem::is_directory(canonical, ec)) return fail("root '" + options.root.string() + "' is not a directory");
  if (options.max_read_bytes == 0 || options.max_write_bytes == 0 || options.max_search_matches == 0 ||
      options.max_search_files == 0 || options.max_search_file_bytes == 0 || options.max_list_entries == 0)
    return fail("every max_* option must be at least 1");
  sandbox::UniqueFd fd(open(canonical.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail("root '" + options.root.string() + "' cannot be opened: " + std::strerror(errno));
  auto context = std::make_shared<sandbox::FsContext>();
  context->options = std::move(options);
  context->root_fd = std::move(fd);
  context->root_path = canonical.string();
  return sandbox::FsShared(std::move(context));
}

Expected<Tool> writing_tool(FilesystemOptions options, const char* name,
                            Expected<Tool> (*make)(sandbox::FsShared)) {
  if (options.read_only)
    return Error{ErrorCode::invalid_argument, std::string(name) + ": the filesystem tools are read_only"};
  auto context = make_context(std::move(options));
  if (!context) return std::move(context).error();
  return make(std::move(*context));
}

Expected<Tool> reading_tool(FilesystemOptions options, Expected<Tool> (*make)(sandbox::FsShared)) {
  auto context = make_context(std::move(options));
  if (!context) return std::move(context).error();
  return make(std::move(*context));
}

}  // namespace

Expected<std::vector<Tool>> filesystem_tools(FilesystemOptions options) {
  auto context = make_context(std::move(options));
  if (!context) return std::move(context).error();
  std::vector<Expected<Tool> (*)(sandbox::FsShared)> makers = {sandbox::make_fs_read, sandbox::make_fs_list,
                                                                sandbox::make_fs_search};
  if (!(*context)->options.read_only) {
    makers.push_back(sandbox::make_fs_write);
    makers.push_back(sandbox::make_fs_edit);
  }
  std::vector<Tool> tools;
  for (auto make : makers) {
    auto tool = make(*context);
    if (!tool) return std::move(tool).error();
    tools.push_back(std::move(*tool));
  }
  return tools;
}

Expected<Tool> fs_read_tool(FilesystemOptions options) { return reading_tool(std::move(options), sandbox::make_fs_read); }
Expected<Tool> fs_list_tool(FilesystemOptions options) { return reading_tool(std::move(options), sandbox::make_fs_list); }
Expected<Tool> fs_search_tool(FilesystemOptions options) {
  return reading_tool(std::move(options), sandbox::make_fs_search);
}
Expected<Tool> fs_write_tool(FilesystemOptions options) {
  return writing_tool(std::move(options), "fs_write", sandbox::make_fs_write);
}
Expected<Tool> fs_edit_tool(FilesystemOptions options) {
  return writing_tool(std::move(options), "fs_edit", sandbox::make_fs_edit);
}

}  // namespace loomflow::tools
