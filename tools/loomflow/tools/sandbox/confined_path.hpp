// loomflow/tools/sandbox/confined_path.hpp — opening paths that can never leave a root directory.
//
// The building block of the sandboxed filesystem tools and the bash tool's working directory:
//   * `normalize_relative` checks a path the model gave, lexically: relative paths and absolute
//     paths inside the root become a clean relative path ("a/b", or "" for the root itself);
//     `..` that climbs above the root and absolute paths elsewhere are refused ("escapes the root").
//   * `open_beneath` opens such a path relative to a directory fd *in the kernel*, with openat2(2)
//     RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so a symbolic link (or one swapped in at any moment)
//     that leads outside is refused (EXDEV) and never followed; links that stay inside are followed.
//     Where openat2 is missing (ENOSYS) it walks component by component with
//     openat(O_NOFOLLOW), resolving symbolic links itself and refusing any that leave the root.
//     Never "realpath, then open": there is no window between a check and the open.
//   * `open_user_dir` opens (creating on first use) root/<user_id> for per-user confinement.
// Errors are values: ErrorCode::tool_error (or invalid_argument for bad input) with a message
// "<tool>: path '<path>' <problem>".
// Thread-safety: free functions over file descriptors; safe to call concurrently.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "loomflow/error.hpp"

namespace loomflow::tools::sandbox {

// Owns a file descriptor (closed on destruction); -1 when empty. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// How `open_beneath` resolves: `automatic` uses openat2 and falls back to the walk on ENOSYS;
// `walk` always walks (tests use it to check the fallback on kernels that have openat2).
enum class Resolver { automatic, walk };

// Lexically checks and cleans `path` (see above). `base` is the absolute path the relative result
// is relative to (the root, or root/<user>); an absolute `path` under it is made relative.
// Empty `path` and "." mean the base itself (""). Refuses NUL bytes.
Expected<std::string> normalize_relative(std::string_view tool, std::string_view base, std::string_view path);

// Opens `relative` (a normalize_relative result; "" is the directory itself) beneath `dir_fd` with
// `flags` (O_CLOEXEC is always added) and `mode` for O_CREAT. `shown` is the path as the model gave
// it, for messages. Errors: escapes the root, does not exist, not a directory, permission denied...
Expected<UniqueFd> open_beneath(int dir_fd, const std::string& relative, int flags, std::string_view tool,
                                std::string_view shown, unsigned mode = 0, Resolver resolver = Resolver::automatic);

// True when `user_id` can name a directory: 1..128 characters of [A-Za-z0-9._@-], not "." or "..".
bool is_safe_user_component(std::string_view user_id) noexcept;

// Opens root/<user_id> as a directory (O_PATH), creating it (mode 0700) if missing; refuses unsafe
// user ids (invalid_argument) and a user directory that is a symbolic link.
Expected<UniqueFd> open_user_dir(int root_fd, std::string_view tool, std::string_view user_id);

// "<tool>: path '<shown>' <problem>" as an Error with `code`.
Error path_error(ErrorCode code, std::string_view tool, std::string_view shown, std::string_view problem);

// A message for errno `err` opening a path ("does not exist", "escapes the root", ...).
std::string describe_open_errno(int err);

}  // namespace loomflow::tools::sandbox
