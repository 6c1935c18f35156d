// Runs a program directly (fork + exec, no shell) and reports how it ended — including death by a
// signal, which the crash tests rely on — with its stdout captured. stderr passes through.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace loomflow::testing {

struct ProcessOutcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  std::string out;
};

// Runs the program; when `kill_after` is positive, sends it SIGKILL once that much time passed
// (if it is still running). The kill lands wherever the program happens to be.
inline ProcessOutcome run_process(const std::string& program, const std::vector<std::string>& args,
                                  std::chrono::microseconds kill_after = std::chrono::microseconds(0)) {
  ProcessOutcome outcome;
  int fds[2];
  if (::pipe(fds) != 0) return outcome;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid > 0 && kill_after.count() > 0) {
    std::this_thread::sleep_for(kill_after);
    ::kill(pid, SIGKILL);  // a no-op for a child that already exited and awaits waitpid
  }
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) outcome.out.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid) {
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  }
  return outcome;
}

}  // namespace loomflow::testing
