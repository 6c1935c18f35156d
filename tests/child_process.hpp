// Child processes for tests that run real programs (the CLI as a server, cluster members): fork +
// execve without a shell, stdout and stderr captured, exit collected, never left behind.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace loomflow::testing {

// Safety limit only: a child that was told to stop normally exits at once.
inline constexpr std::chrono::milliseconds kChildExitTimeout{30'000};


struct ExitStatus {
  int code = -1;   // when it exited
  int signal = 0;  // when a signal killed it
};

// The environment a child gets: ours, without `drop`, plus `add` ("NAME=value").
inline std::vector<std::string> child_environment(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool dropped = false;
    for (const auto& d : drop) dropped = dropped || name == d;
    for (const auto& a : add) dropped = dropped || name == a.substr(0, a.find('='));
    if (!dropped) env.push_back(entry);
  }
  env.insert(env.end(), add.begin(), add.end());
  return env;
}

// Variables that would change what a child does behind the test's back.
inline const std::vector<std::string> kIsolatedEnvironment = {
    "LOOMFLOW_API_KEYS", "LOOMFLOW_JOURNAL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
    "ALL_PROXY"};

// A program run with fork + execve (no shell), stdout and stderr captured by a reader thread, its
// exit collected by a reaper thread. The destructor never leaves the process behind: `stop()` with
// SIGKILL unless stopped before. The child also dies with the test process (PR_SET_PDEATHSIG).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    int out[2], err[2], wake[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(wake, O_CLOEXEC) != 0) return;
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    // Everything the child needs is made before fork: after it, only async-signal-safe calls.
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::close(devnull);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    wake_read_ = wake[0];
    wake_write_ = wake[1];
    if (pid_ < 0) return;
    reader_ = std::thread([this] { read_output(); });
    reaper_ = std::thread([this] { reap(); });
  }
  ~Child() {
    stop(SIGKILL, kChildExitTimeout);
    if (wake_write_ >= 0) (void)!::write(wake_write_, "x", 1);
    if (reader_.joinable()) reader_.join();
    if (reaper_.joinable()) reaper_.join();
    for (int fd : {out_fd_, err_fd_, wake_read_, wake_write_})
      if (fd >= 0) ::close(fd);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Sends `sig` while the process is not yet reaped (its pid cannot have been reused).
  void signal(int sig) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
  }

  // How it ended, once it did and its output is complete; nullopt after `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (pid_ <= 0) return ExitStatus{};
    if (!cv_.wait_for(lock, timeout, [this] { return reaped_; })) return std::nullopt;
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return output_ended_; });  // a grandchild could hold the pipes
    return status_;
  }

  // True once stdout contains `needle`; false when it ended without it or `timeout` passed.
  bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return out_.find(needle) != std::string::npos || output_ended_; });
    return out_.find(needle) != std::string::npos;
  }

  // True once stderr contains `needle`; false when it ended without it or `timeout` passed.
  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return err_.find(needle) != std::string::npos || output_ended_; });
    return err_.find(needle) != std::string::npos;
  }

  // Signal `first`, wait up to `patience`, then SIGKILL and wait for it.
  void stop(int first, std::chrono::milliseconds patience) {
    if (pid_ <= 0) return;
    signal(first);
    if (wait_exit(patience)) return;
    signal(SIGKILL);
    wait_exit(kChildExitTimeout);
  }

  std::string out() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return out_;
  }
  std::string err() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return err_;
  }

 private:
  void read_output() {
    bool out_open = true, err_open = true;
    char buffer[4096];
    while (out_open || err_open) {
      pollfd fds[3] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}, {wake_read_, POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents != 0) break;  // the destructor: the process is gone, stop reading
      for (int k = 0; k < 2; ++k) {
        if (fds[k].revents == 0) continue;
        const ssize_t n = ::read(fds[k].fd, buffer, sizeof buffer);
        std::lock_guard<std::mutex> guard(mutex_);
        if (n > 0) {
          (k == 0 ? out_ : err_).append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          (k == 0 ? out_open : err_open) = false;
        }
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> guard(mutex_);
    output_ended_ = true;
    cv_.notify_all();
  }

  void reap() {
    // Wait without reaping, so that signal() never hits a reused pid; then reap under the lock.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    std::lock_guard<std::mutex> guard(mutex_);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) {
      if (WIFEXITED(status)) status_.code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) status_.signal = WTERMSIG(status);
    }
    reaped_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1, wake_read_ = -1, wake_write_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string out_, err_;
  bool output_ended_ = false;
  bool reaped_ = false;
  ExitStatus status_;
  std::thread reader_, reaper_;
};

}  // namespace loomflow::testing
