#include "loomflow/tools/sandbox/confined_path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

namespace loomflow::tools::sandbox {

namespace {

constexpr std::size_t kMaxPathLength = 4096;
constexpr int kMaxSymlinks = 40;  // as the kernel's own limit
constexpr int kRetries = 16;      // openat2 EAGAIN (a concurrent rename) and walk races

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Collapses "", "." and ".." lexically; false when ".." climbs above the start.
bool collapse(const std::vector<std::string>& parts, std::vector<std::string>& out) {
  for (const auto& part : parts) {
    if (part == ".") continue;
    if (part == "..") {
      if (out.empty()) return false;
      out.pop_back();
      continue;
    }
    out.push_back(part);
  }
  return true;
}

std::string join(const std::vector<std::string>& parts, std::size_t from = 0) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (!out.empty()) out += '/';
    out += parts[i];
  }
  return out;
}

long call_openat2(int dir_fd, const char* path, int flags, unsigned mode) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
}

// readlinkat into a string; false (errno set) when `name` is not a symbolic link.
bool read_link(int dir_fd, const std::string& name, std::string& target) {
  char buffer[kMaxPathLength + 1];
  ssize_t n = readlinkat(dir_fd, name.c_str(), buffer, sizeof buffer);
  if (n < 0) return false;
  if (static_cast<std::size_t>(n) >= sizeof buffer) {
    errno = ENAMETOOLONG;
    return false;
  }
  target.assign(buffer, static_cast<std::size_t>(n));
  return true;
}

// The fallback: one component at a time with O_NOFOLLOW; symbolic links are read and spliced into
// the remaining components; ".." pops the stack of opened directories and may never pop the root.
// Returns an fd, or -1 with errno set (EXDEV for an escape).
int walk_open(int dir_fd, const std::string& relative, int flags, unsigned mode) {
  std::vector<UniqueFd> stack;
  stack.emplace_back(openat(dir_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!stack.back()) return -1;
  auto parts = split_components(relative);
  std::deque<std::string> todo(parts.begin(), parts.end());
  if (todo.empty()) return openat(dir_fd, ".", flags | O_CLOEXEC, mode);
  int links = 0;
  int races = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (stack.size() == 1) {
        errno = EXDEV;
        return -1;
      }
      stack.pop_back();
      continue;
    }
    const int parent = stack.back().get();
    std::string target;
    if (read_link(parent, name, target)) {
      if (++links > kMaxSymlinks) {
        errno = ELOOP;
        return -1;
      }
      if (!target.empty() && target.front() == '/') {
        errno = EXDEV;  // an absolute link target is outside by construction: the walk has no path
        return -1;
      }
      auto spliced = split_components(target);
      todo.insert(todo.begin(), spliced.begin(), spliced.end());
      continue;
    }
    if (errno != EINVAL && errno != ENOENT) return -1;
    const bool last = todo.empty();
    const int open_flags = last ? (flags | O_NOFOLLOW | O_CLOEXEC) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = openat(parent, name.c_str(), open_flags, mode);
    if (fd >= 0) {
      struct stat st {};
      if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {  // swapped for a link after readlinkat (O_PATH)
        close(fd);
        fd = -1;
        errno = ELOOP;
      }
    }
    if (fd < 0) {
      // A link swapped in between readlinkat and openat: look again, a bounded number of times.
      if ((errno == ELOOP || errno == ENOTDIR) && ++races <= kRetries) {
        todo.push_front(name);
        continue;
      }
      return -1;
    }
    if (last) return fd;
    stack.emplace_back(fd);
  }
  // Ended on "." or "..": the directory on top of the stack.
  return openat(stack.back().get(), ".", flags | O_CLOEXEC, mode);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Error path_error(ErrorCode code, std::string_view tool, std::string_view shown, std::string_view problem) {
  std::string message(tool);
  message += ": path '";
  message += shown;
  message += "' ";
  message += problem;
  return Error{code, std::move(message)};
}

std::string describe_open_errno(int err) {
  switch (err) {
    case EXDEV:
      return "escapes the root (through '..' or a symbolic link that leads outside it)";
    case ENOENT:
      return "does not exist";
    case ENOTDIR:
      return "has a component that is not a directory";
    case EISDIR:
      return "is a directory";
    case EACCES:
    case EPERM:
      return "cannot be opened: permission denied";
    case ELOOP:
      return "has too many levels of symbolic links (or names a /proc magic link)";
    case EEXIST:
      return "already exists";
    case ENAMETOOLONG:
      return "is too long";
    case ENXIO:
      return "is a special file that cannot be opened";
    default:
      return std::string("cannot be opened: ") + std::strerror(err);
  }
}

Expected<std::string> normalize_relative(std::string_view tool, std::string_view base, std::string_view path) {
  if (path.find('\0') != std::string_view::npos)
    return path_error(ErrorCode::tool_error, tool, "(contains NUL)", "contains a NUL byte");
  if (path.size() > kMaxPathLength) return path_error(ErrorCode::tool_error, tool, path.substr(0, 64), "is too long");
  std::vector<std::string> clean;
  if (!path.empty() && path.front() == '/') {
    std::vector<std::string> absolute;
    std::vector<std::string> base_parts;
    if (!collapse(split_components(path), absolute) || !collapse(split_components(base), base_parts))
      return path_error(ErrorCode::tool_error, tool, path, "escapes the root");
    bool inside = absolute.size() >= base_parts.size() &&
                  std::equal(base_parts.begin(), base_parts.end(), absolute.begin());
    if (!inside) return path_error(ErrorCode::tool_error, tool, path, "escapes the root");
    return join(absolute, base_parts.size());
  }
  if (!collapse(split_components(path), clean)) return path_error(ErrorCode::tool_error, tool, path, "escapes the root");
  return join(clean);
}

Expected<UniqueFd> open_beneath(int dir_fd, const std::string& relative, int flags, std::string_view tool,
                                std::string_view shown, unsigned mode, Resolver resolver) {
  const char* target = relative.empty() ? "." : relative.c_str();
  if (resolver == Resolver::automatic) {
    for (int attempt = 0; attempt < kRetries; ++attempt) {
      long fd = call_openat2(dir_fd, target, flags | O_CLOEXEC, mode);
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      if (errno == EAGAIN || errno == EINTR) continue;  // a concurrent rename: the kernel asks us to retry
      if (errno == ENOSYS) break;
      return path_error(ErrorCode::tool_error, tool, shown, describe_open_errno(errno));
    }
    if (errno != ENOSYS)
      return path_error(ErrorCode::tool_error, tool, shown, "cannot be resolved: the tree keeps changing");
  }
  int fd = walk_open(dir_fd, relative, flags, mode);
  if (fd < 0) return path_error(ErrorCode::tool_error, tool, shown, describe_open_errno(errno));
  return UniqueFd(fd);
}

bool is_safe_user_component(std::string_view user_id) noexcept {
  if (user_id.empty() || user_id.size() > 128 || user_id == "." || user_id == "..") return false;
  for (char c : user_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Expected<UniqueFd> open_user_dir(int root_fd, std::string_view tool, std::string_view user_id) {
  if (!is_safe_user_component(user_id))
    return Error{ErrorCode::invalid_argument,
                 std::string(tool) + ": user id '" + std::string(user_id) +
                     "' cannot name a directory (per_user needs 1-128 characters of [A-Za-z0-9._@-], not '.' "
                     "or '..')"};
  const std::string name(user_id);
  if (mkdirat(root_fd, name.c_str(), 0700) != 0 && errno != EEXIST)
    return Error{ErrorCode::tool_error, std::string(tool) + ": cannot create the directory of user '" + name +
                                            "': " + std::strerror(errno)};
  int fd = openat(root_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return Error{ErrorCode::tool_error, std::string(tool) + ": the directory of user '" + name +
                                            "' cannot be opened (it must be a real directory, not a link): " +
                                            std::strerror(errno)};
  return UniqueFd(fd);
}

}  // namespace loomflow::tools::sandbox
