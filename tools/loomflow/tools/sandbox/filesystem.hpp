// loomflow/tools/sandbox/filesystem.hpp — filesystem tools an agent can call, confined to a root
// directory: fs_read, fs_write, fs_list, fs_search and fs_edit.
//
// Confinement: every path the model gives is checked lexically (`..` above the root and absolute
// paths elsewhere are refused) and then opened *in the kernel* relative to a descriptor of the root
// with openat2(2) RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so a symbolic link that leads outside —
// including one swapped in after the check — is refused, never followed (see confined_path.hpp;
// without openat2 a component-by-component O_NOFOLLOW walk gives the same guarantee). Symbolic
// links that stay inside the root are followed when reading; fs_write and fs_edit refuse a path
// whose last component is a link, and the recursive walks of fs_list/fs_search do not descend into
// links. With `per_user`, each call is confined to root/<user id> instead.
//
// Tools (arguments are JSON objects; unknown properties are refused):
//   fs_read   {path, offset?, limit?}           text of a file; offset = first line (1-based),
//                                                limit = number of lines; capped at max_read_bytes
//   fs_write  {path, content, create_dirs?}     writes atomically (temp file + fsync + rename)
//   fs_list   {path?, recursive?}               "<type> <size> <path>" lines, sorted, capped
//   fs_search {pattern, path?, glob?, regex?}   "path:line: text" lines; pattern is a literal
//                                                substring unless regex is true (ECMAScript)
//   fs_edit   {path, old_text, new_text, replace_all?}  replaces old_text, which must occur exactly
//                                                once unless replace_all is true
// Every failure is a value — Error{tool_error, "<tool>: path '<path>' <problem>"} — that goes back
// to the model; nothing throws through the run.
//
// Example:
//   auto fs = loomflow::tools::filesystem_tools({.root = "/srv/agent-files", .per_user = true});
//   if (!fs) return fs.error();
//   auto agent = loomflow::Agent::create({.name = "clerk", .model = model, .tools = *fs});
//
// Thread-safety: the tools share only immutable state and a descriptor of the root; calls may run
// concurrently (each is `ToolOptions::blocking`, so it runs on a detached actor). Two concurrent
// writes of one file leave one of the two contents, never a mix.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/tool.hpp"

namespace loomflow::tools {

struct FilesystemOptions {
  // The directory the tools are confined to. Required; must exist and be a directory. Opened once,
  // when the tools are made: renaming it afterwards does not move the tools elsewhere.
  std::filesystem::path root;
  // Confine each call to root/<ToolContext::user_id> (created, mode 0700, on first use); user ids
  // that are not one safe path component ([A-Za-z0-9._@-], 1-128 chars, not "." or "..") are
  // refused. Default: false (all users share the root).
  bool per_user = false;
  // Leave out fs_write and fs_edit (filesystem_tools returns read, list and search only; making
  // them individually fails). Default: false.
  bool read_only = false;
  // fs_read returns at most this many bytes of content, then a marker
  // "[fs_read: truncated at N bytes; continue with offset=L]". Default: 256 KiB.
  std::size_t max_read_bytes = 256 * 1024;
  // fs_write refuses content larger than this; fs_edit refuses files (before or after the edit)
  // larger than this. Default: 8 MiB.
  std::size_t max_write_bytes = 8 * 1024 * 1024;
  // fs_search stops after this many matching lines, with a marker. Default: 200.
  std::size_t max_search_matches = 200;
  // fs_search looks into at most this many files, and skips files larger than
  // max_search_file_bytes and files that look binary (a NUL byte in the first 8 KiB).
  // Defaults: 10000 files, 4 MiB.
  std::size_t max_search_files = 10000;
  std::size_t max_search_file_bytes = 4 * 1024 * 1024;
  // fs_list returns at most this many entries, with a marker. Default: 1000.
  std::size_t max_list_entries = 1000;
  // Test hook: called with the (normalized, relative) path after the arguments are validated and
  // immediately before the path is opened, so a test can change the tree at exactly that moment.
  // Default: none. Must be thread-safe if the tools are called concurrently.
  std::function<void(const std::string& relative_path)> before_open;
};

// All five tools (three with read_only). Fails (invalid_argument) when root is empty, missing or
// not a directory, or a cap is zero.
Expected<std::vector<Tool>> filesystem_tools(FilesystemOptions options);

// One tool each, with the same options and failures; fs_write_tool and fs_edit_tool fail when
// options.read_only is set.
Expected<Tool> fs_read_tool(FilesystemOptions options);
Expected<Tool> fs_write_tool(FilesystemOptions options);
Expected<Tool> fs_list_tool(FilesystemOptions options);
Expected<Tool> fs_search_tool(FilesystemOptions options);
Expected<Tool> fs_edit_tool(FilesystemOptions options);

}  // namespace loomflow::tools
