// loomflow/tools/sandbox/bash.hpp — the "bash" tool: runs a command line with a deadline, an
// output cap, a working directory under a root, a scrubbed environment and a command policy.
//
// Arguments {command: string, timeout_ms?: integer, cwd?: string}:
//   * `command` runs as `/bin/bash -c COMMAND` with stdin from /dev/null, in its own process group,
//     under a subreaper (see process_tree.hpp). When it exits, anything it left running (background
//     jobs, `setsid` escapees, daemons) is killed; on timeout the whole tree is killed. Either way
//     nothing of it is running when the call returns.
//   * `timeout_ms` defaults to default_timeout and is capped at max_timeout.
//   * `cwd` is a directory relative to the working root (confined like the filesystem tools: `..`,
//     absolute paths elsewhere and links leading outside are refused); default: the root itself.
// Result for the model: {"exit_code":N,"stdout":"...","stderr":"...","truncated":bool} — a non-zero
// exit is a normal result. Output past max_output_bytes (stdout + stderr together) is read and
// dropped, so the command never blocks on a full pipe; a truncated stream ends with
// "[output truncated at N bytes]". Errors: a refused command → Error{permission_denied,
// "bash: refused by the command policy: '<program>' is in denied_commands"} (see
// command_policy.hpp); a timeout → Error{tool_error, "bash: command timed out after N ms; its
// process tree was killed"}, followed by the partial output.
//
// Environment: exactly PATH (`path`), HOME (the working root, or the user's directory), LANG=C.UTF-8,
// LOOMFLOW_IDEMPOTENCY_KEY (the call's "<session>/<step>", the same when a crashed or lost call is
// dispatched again) and LOOMFLOW_REDELIVERY ("1" then, else "0"), the variables of `pass_env`
// copied from this process when the tool is made, and `extra_env`.
// Nothing else of this process's environment reaches the command.
//
// NOT a security boundary: the command runs as this process's user, can read and write whatever
// that user can (the working root only sets where it starts), and an allowed program that runs
// code of its own (python, awk, make, a script) escapes the policy. For untrusted input run the
// agent under a separate user, in a container or a VM.
//
// Example:
//   auto bash = loomflow::tools::bash_tool({.root = "/srv/work", .denied_commands = {"rm", "curl"}});
//
// Thread-safety: the tool keeps only immutable state; concurrent calls are independent (no
// signal handlers, no environment changes, no global state).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "loomflow/error.hpp"
#include "loomflow/tool.hpp"

namespace loomflow::tools {

struct BashOptions {
  // The working root: the default working directory, what `cwd` is relative to, and HOME.
  // Required; must exist and be a directory.
  std::filesystem::path root;
  // Run each call in root/<ToolContext::user_id> (created, mode 0700, on first use), which is then
  // also HOME and what `cwd` is relative to. Unsafe user ids are refused. Default: false.
  bool per_user = false;
  // Timeout when the call gives none. Default: 30 s.
  std::chrono::milliseconds default_timeout{30'000};
  // Upper bound on a call's timeout_ms. Default: 5 min.
  std::chrono::milliseconds max_timeout{300'000};
  // Bytes of stdout + stderr returned; the rest is drained and dropped. Default: 64 KiB.
  std::size_t max_output_bytes = 64 * 1024;
  // PATH of the command. Default: "/usr/local/bin:/usr/bin:/bin".
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  // Names of variables copied from this process's environment when the tool is made (a missing one
  // is left out). Default: none.
  std::vector<std::string> pass_env;
  // Further variables, set as given (they override PATH, HOME, LANG and pass_env). Default: none.
  std::map<std::string, std::string> extra_env;
  // Program names that may run; empty = any. Every command word is checked (see command_policy.hpp).
  // Default: empty.
  std::vector<std::string> allowed_commands;
  // Program names that may not run. Default: none.
  std::vector<std::string> denied_commands;
  // ECMAScript regexes; a command line in which one is found is refused. Default: none.
  std::vector<std::string> denied_patterns;
  // The shell. Default: "/bin/bash".
  std::string shell = "/bin/bash";
};

// Fails (invalid_argument) when root is missing or not a directory, a timeout is not positive,
// default_timeout exceeds max_timeout, max_output_bytes is 0, shell is not an absolute path, a
// variable name is invalid, or a denied pattern is not a valid regex.
Expected<Tool> bash_tool(BashOptions options);

}  // namespace loomflow::tools
