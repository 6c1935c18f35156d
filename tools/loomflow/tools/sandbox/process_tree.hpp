// loomflow/tools/sandbox/process_tree.hpp — runs one program with a deadline and an output cap,
// and leaves nothing running when it returns.
//
// How: an intermediate "reaper" process (prctl PR_SET_CHILD_SUBREAPER) starts the program in its
// own process group, with stdin from /dev/null and stdout/stderr on pipes. Every descendant that
// is orphaned — `cmd &`, `setsid cmd &`, double forks — is reparented to the reaper, not to init.
// When the program exits, or the deadline passes (the parent closes a control pipe), or the parent
// dies, the reaper SIGKILLs the program's process group and then, repeatedly, every child it has
// (found by scanning /proc for its pid as parent) until it has none left; only then does it exit.
// The caller returns after the reaper has exited, so the whole tree is dead by then. Background
// jobs still running when the program exits are killed too. Processes started through another
// service (systemd-run, at, ssh, a container runtime) are not descendants and are not killed.
//
// The parent waits with poll() on the pipes and a status pipe — no busy loop, no signal handlers,
// no global state: calls may run concurrently from many threads. The child's environment is
// exactly `env` (the caller's is never read or changed), and every signal is reset to its default.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::tools::sandbox {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is the program's absolute path (no PATH search)
  std::vector<std::string> env;   // the child's whole environment, "NAME=value" each
  int cwd_fd = -1;                // directory to run in (fchdir'ed by the child); -1: the caller's
  std::chrono::milliseconds timeout{30000};
  std::size_t output_cap = 1024 * 1024;  // bytes of stdout + stderr kept; the rest is read and dropped
};

struct ProcessResult {
  int exit_code = 0;       // the program's exit status; 128 + N when a signal N ended it
  bool timed_out = false;  // the deadline passed and the tree was killed
  std::string out;         // what the program wrote to stdout (up to the cap)
  std::string err;         // and to stderr
  bool out_truncated = false;
  bool err_truncated = false;
};

// Fails (tool_error) only when the processes cannot be started at all (pipes, fork).
Expected<ProcessResult> run_process_tree(const ProcessSpec& spec);

}  // namespace loomflow::tools::sandbox
