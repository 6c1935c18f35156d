#include "loomflow/tools/sandbox/process_tree.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loomflow/tools/sandbox/confined_path.hpp"

namespace loomflow::tools::sandbox {

namespace {

// ---- In the reaper and the program's child: async-signal-safe code only (no allocation) ----

// Fixed descriptors in the reaper.
constexpr int kStdin = 0, kStdout = 1, kStderr = 2, kControl = 3, kCwd = 4, kStatus = 5, kFirstFree = 6;
constexpr int kSpawnFailed = -2;  // reported on the status pipe when the reaper cannot fork

struct ReaperArgs {
  int fds[kFirstFree];  // by the fixed numbers above; -1 for none
  char* const* argv;
  char* const* envp;
};

void write_text(int fd, const char* text) {
  std::size_t length = std::strlen(text);
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n <= 0 && errno != EINTR) return;
    if (n > 0) {
      text += n;
      length -= static_cast<std::size_t>(n);
    }
  }
}

void close_from(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  long limit = sysconf(_SC_OPEN_MAX);
  if (limit < 0 || limit > 65536) limit = 65536;
  for (int fd = first; fd < limit; ++fd) close(fd);
}

// The parent pid in /proc/<pid>/stat ("pid (comm) state ppid ..."), or -1.
pid_t parent_of(const char* pid_text) {
  char path[64] = "/proc/";
  std::size_t at = 6;
  for (const char* p = pid_text; *p && at < 40; ++p) path[at++] = *p;
  std::memcpy(path + at, "/stat", 6);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buffer[512];
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return -1;
  buffer[n] = '\0';
  char* close_paren = nullptr;
  for (char* p = buffer; *p; ++p)
    if (*p == ')') close_paren = p;  // comm may contain ')': the last one ends it
  if (!close_paren || close_paren[1] != ' ' || !close_paren[2] || close_paren[3] != ' ') return -1;
  pid_t ppid = 0;
  for (const char* p = close_paren + 4; *p >= '0' && *p <= '9'; ++p) ppid = ppid * 10 + (*p - '0');
  return ppid;
}

// SIGKILLs every process whose parent is `self`. /proc/<pid>/task/<tid>/children is not always
// compiled in, so this scans /proc.
void kill_children(pid_t self) {
  int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buffer[8192];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
      unsigned short reclen = 0;
      std::memcpy(&reclen, buffer + offset + 16, sizeof reclen);
      const char* name = buffer + offset + 19;
      offset += reclen;
      if (name[0] < '0' || name[0] > '9') continue;
      pid_t pid = 0;
      for (const char* p = name; *p >= '0' && *p <= '9'; ++p) pid = pid * 10 + (*p - '0');
      if (pid != self && parent_of(name) == self) kill(pid, SIGKILL);
    }
  }
  close(dir);
}

// Kills the program's group (while it is unreaped its pid is the group's id) and every
// descendant, until the reaper has no child left. Records the program's wait status.
void kill_tree(pid_t program, bool program_reaped, int& status) {
  const pid_t self = getpid();
  if (!program_reaped) kill(-program, SIGKILL);
  for (;;) {
    kill_children(self);
    int st = 0;
    pid_t r = waitpid(-1, &st, 0);  // every live child was just killed: this returns
    if (r > 0) {
      if (r == program) status = st;
      continue;
    }
    if (errno == EINTR) continue;
    return;  // ECHILD: nothing left
  }
}

[[noreturn]] void program_main(const ReaperArgs& args) {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (args.fds[kCwd] >= 0 && fchdir(kCwd) != 0) {
    write_text(kStderr, "bash tool: cannot enter the working directory\n");
    _exit(126);
  }
  close(kControl);
  close(kCwd);
  close(kStatus);
  execve(args.argv[0], args.argv, args.envp);
  write_text(kStderr, "bash tool: cannot run ");
  write_text(kStderr, args.argv[0]);
  write_text(kStderr, ": ");
  write_text(kStderr, strerrordesc_np(errno));
  write_text(kStderr, "\n");
  _exit(127);
}

[[noreturn]] void reaper_main(const ReaperArgs& args) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Descriptors to fixed numbers: first above the range, then down, so none overwrites another.
  int high[kFirstFree];
  for (int k = 0; k < kFirstFree; ++k) high[k] = args.fds[k] >= 0 ? fcntl(args.fds[k], F_DUPFD, 64) : -1;
  for (int k = 0; k < kFirstFree; ++k) {
    if (high[k] >= 0)
      dup2(high[k], k);
    else
      close(k);
  }
  close_from(kFirstFree);  // also drops descriptors other threads' calls opened meanwhile
  fcntl(kStatus, F_SETFD, FD_CLOEXEC);
  // Default dispositions (SIGCHLD must not be ignored, or children are reaped behind our back).
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);
  }
  sigset_t child_signal;
  sigemptyset(&child_signal);
  sigaddset(&child_signal, SIGCHLD);
  sigprocmask(SIG_SETMASK, &child_signal, nullptr);
  int signals = signalfd(-1, &child_signal, SFD_CLOEXEC | SFD_NONBLOCK);

  int status = kSpawnFailed;
  pid_t program = fork();
  if (program == 0) program_main(args);
  if (program < 0 || signals < 0) {
    if (program > 0) kill_tree(program, false, status);
    status = kSpawnFailed;
    (void)!write(kStatus, &status, sizeof status);
    _exit(1);
  }
  setpgid(program, program);  // also in the child: whichever runs first
  close(kStdin);
  close(kStdout);  // only the program's tree holds the pipes now: EOF means it let go of them
  close(kStderr);
  close(kCwd);

  bool reaped = false;
  while (!reaped) {
    pollfd fds[2] = {{kControl, POLLIN, 0}, {signals, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents) {
      signalfd_siginfo info;
      while (read(signals, &info, sizeof info) > 0) {
      }
      int st = 0;
      pid_t r;
      while ((r = waitpid(-1, &st, WNOHANG)) > 0) {  // the program, or an orphan that exited
        if (r == program) {
          status = st;
          reaped = true;
        }
      }
    }
    if (!reaped && fds[0].revents) break;  // deadline, or the parent is gone
  }
  kill_tree(program, reaped, status);
  (void)!write(kStatus, &status, sizeof status);
  _exit(0);
}

// ---- In the caller ----

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Expected<Pipe> make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return Error{ErrorCode::tool_error, std::string("bash: cannot create a pipe: ") + std::strerror(errno)};
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

int remaining_ms(std::chrono::steady_clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

}  // namespace

Expected<ProcessResult> run_process_tree(const ProcessSpec& spec) {
  if (spec.argv.empty()) return Error{ErrorCode::invalid_argument, "bash: no program to run"};
  // Everything the children need is built here: after fork they may not allocate.
  std::vector<char*> argv;
  for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : spec.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) return Error{ErrorCode::tool_error, std::string("bash: cannot open /dev/null: ") + std::strerror(errno)};
  auto out = make_pipe();
  if (!out) return std::move(out).error();
  auto err = make_pipe();
  if (!err) return std::move(err).error();
  auto control = make_pipe();
  if (!control) return std::move(control).error();
  auto status_pipe = make_pipe();
  if (!status_pipe) return std::move(status_pipe).error();

  ReaperArgs args{{null.get(), out->write.get(), err->write.get(), control->read.get(), spec.cwd_fd,
                   status_pipe->write.get()},
                  argv.data(),
                  envp.data()};
  const pid_t reaper = fork();
  if (reaper < 0) return Error{ErrorCode::tool_error, std::string("bash: cannot fork: ") + std::strerror(errno)};
  if (reaper == 0) reaper_main(args);
  out->write = UniqueFd();
  err->write = UniqueFd();
  control->read = UniqueFd();
  status_pipe->write = UniqueFd();
  null = UniqueFd();
  fcntl(out->read.get(), F_SETFL, O_NONBLOCK);
  fcntl(err->read.get(), F_SETFL, O_NONBLOCK);

  ProcessResult result;
  int status = kSpawnFailed;
  std::size_t status_bytes = 0;
  auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  const auto grace = std::chrono::seconds(10);
  bool gave_up = false;
  int fds_open[3] = {out->read.get(), err->read.get(), status_pipe->read.get()};
  std::vector<char> buffer(64 * 1024);
  while (fds_open[0] >= 0 || fds_open[1] >= 0 || fds_open[2] >= 0) {
    pollfd fds[3];
    for (int k = 0; k < 3; ++k) fds[k] = {fds_open[k], POLLIN, 0};  // a negative fd is skipped
    int ready = poll(fds, 3, remaining_ms(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ready == 0) {
      if (fds_open[2] < 0) break;  // the reaper is done; a stray holder of a pipe is not ours to wait for
      if (!result.timed_out) {
        result.timed_out = true;
        control->write = UniqueFd();  // the reaper kills the tree and exits
        deadline = std::chrono::steady_clock::now() + grace;
        continue;
      }
      gave_up = true;  // the reaper did not finish in time: kill it and stop waiting
      kill(reaper, SIGKILL);
      break;
    }
    for (int k = 0; k < 3; ++k) {
      if (fds_open[k] < 0 || !fds[k].revents) continue;
      for (;;) {
        ssize_t n = read(fds_open[k], buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;  // EAGAIN: drained for now
        if (n == 0) {
          fds_open[k] = -1;
          if (k == 2 && !result.timed_out)  // the reaper is done: whatever still holds a pipe is not ours
            deadline = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
          break;
        }
        if (k == 2) {
          for (ssize_t b = 0; b < n && status_bytes < sizeof status; ++b)
            reinterpret_cast<char*>(&status)[status_bytes++] = buffer[static_cast<std::size_t>(b)];
          continue;
        }
        std::string& target = k == 0 ? result.out : result.err;
        bool& truncated = k == 0 ? result.out_truncated : result.err_truncated;
        const std::size_t kept = result.out.size() + result.err.size();
        const std::size_t room = kept < spec.output_cap ? spec.output_cap - kept : 0;
        const std::size_t take = std::min(room, static_cast<std::size_t>(n));
        target.append(buffer.data(), take);
        if (take < static_cast<std::size_t>(n)) truncated = true;
      }
    }
  }
  control->write = UniqueFd();
  int reaper_status = 0;
  while (waitpid(reaper, &reaper_status, 0) < 0 && errno == EINTR) {
  }
  if (gave_up)
    return Error{ErrorCode::tool_error, "bash: the process tree could not be confirmed dead within " +
                                            std::to_string(grace.count()) + " s of the deadline"};
  if (status_bytes != sizeof status || status == kSpawnFailed) {
    if (result.timed_out) return result;
    return Error{ErrorCode::tool_error, "bash: cannot start the command (fork failed)"};
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
  return result;
}

}  // namespace loomflow::tools::sandbox
