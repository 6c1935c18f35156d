// loomflow/tools/sandbox/fs_context.hpp — internal to the filesystem tools: the state they share
// (options and a descriptor of the root), per-call base directories, and small file helpers.
// Thread-safety: FsContext is immutable once made; the helpers keep no state.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "loomflow/tools/sandbox/confined_path.hpp"
#include "loomflow/tools/sandbox/filesystem.hpp"
#include "loomflow/tools/sandbox/text.hpp"

namespace loomflow::tools::sandbox {

struct FsContext {
  FilesystemOptions options;
  UniqueFd root_fd;       // O_RDONLY | O_DIRECTORY
  std::string root_path;  // canonical absolute path of the root
};
using FsShared = std::shared_ptr<const FsContext>;

// The directory one call is confined to: the root, or root/<user id> with per_user.
struct CallBase {
  UniqueFd owned;  // set with per_user
  int fd = -1;
  std::string path;  // absolute
};

Expected<CallBase> call_base(const FsContext& fs, std::string_view tool, const ToolContext& ctx);

// normalize_relative against the call's base.
Expected<std::string> resolve_argument(const CallBase& base, std::string_view tool, std::string_view path);

// Runs the before_open hook, if any.
void notify_before_open(const FsContext& fs, const std::string& relative);

// Opens the parent directory of `relative` (O_RDONLY | O_DIRECTORY), creating missing directories
// when `create_dirs`; `name` receives the last component. Refuses the base itself.
Expected<UniqueFd> open_parent(const CallBase& base, const std::string& relative, bool create_dirs,
                               std::string_view tool, std::string_view shown, std::string& name);

// Reads a whole regular file (at most `limit` bytes, else an error naming the limit).
Expected<std::string> read_file_capped(int fd, std::size_t limit, std::string_view tool, std::string_view shown);

// Writes `content` to dir_fd/name atomically: a temporary file in the same directory, fsync,
// renameat over `name`, fsync of the directory. `mode` is the new file's permission bits.
Expected<void> write_atomically(int dir_fd, const std::string& name, std::string_view content, mode_t mode,
                                std::string_view tool, std::string_view shown);

// The tool makers, one per file.
Expected<Tool> make_fs_read(FsShared fs);
Expected<Tool> make_fs_write(FsShared fs);
Expected<Tool> make_fs_edit(FsShared fs);
Expected<Tool> make_fs_list(FsShared fs);
Expected<Tool> make_fs_search(FsShared fs);

}  // namespace loomflow::tools::sandbox
