// The stdio transport: the server is our child process, in its own process group; we write
// newline-delimited JSON-RPC to its stdin and read it from its stdout (both ends of a socketpair,
// so a write to a dead server is an error, never a SIGPIPE); its stderr is kept as a short tail
// for error messages. One reader thread per running process.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "loomflow/tools/mcp/transport.hpp"

extern char** environ;

namespace loomflow::mcp::detail {
namespace {

constexpr std::size_t kStderrTail = 2048;
constexpr std::size_t kMaxLine = 64 * 1024 * 1024;  // one message; a larger one is a broken server

std::string errno_text(int err) { return std::strerror(err); }

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended (status " + std::to_string(status) + ")";
}

// Waits up to `ms` for the process behind `pidfd` to exit. True when it has.
bool wait_exit(int pidfd, int ms) {
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do rc = ::poll(&p, 1, ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

class StdioTransport final : public Transport {
 public:
  StdioTransport(std::string name, StdioServer server) : name_(std::move(name)), server_(std::move(server)) {}
  ~StdioTransport() override { close(); }

  Expected<void> open(TransportEvents events) override {
    close();
    if (server_.command.empty())
      return Error{ErrorCode::invalid_argument, "MCP server '" + name_ + "': no command to start"};
    int io[2], err[2], wake[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) != 0)
      return Error{ErrorCode::internal, "MCP server '" + name_ + "': socketpair: " + errno_text(errno)};
    if (::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(wake, O_CLOEXEC) != 0) {
      const int e = errno;
      ::close(io[0]);
      ::close(io[1]);
      return Error{ErrorCode::internal, "MCP server '" + name_ + "': pipe: " + errno_text(e)};
    }
    auto close_all = [&] {
      for (int fd : {io[0], io[1], err[0], err[1], wake[0], wake[1]}) ::close(fd);
    };

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, io[1], 0);
    posix_spawn_file_actions_adddup2(&actions, io[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    if (!server_.working_directory.empty())
      posix_spawn_file_actions_addchdir_np(&actions, server_.working_directory.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group: stopping it stops what it started (npx → node)
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const auto key = entry.substr(0, entry.find('='));
      if (!server_.env.count(key)) env_strings.push_back(entry);
    }
    for (const auto& [key, value] : server_.env) env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = server_.command;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      close_all();
      return Error{ErrorCode::unavailable, "MCP server '" + name_ + "': cannot start '" + server_.command[0] +
                                               "': " + errno_text(rc)};
    }
    ::close(io[1]);
    ::close(err[1]);
    std::lock_guard<std::mutex> guard(mutex_);
    pid_ = pid;
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    sock_ = io[0];
    stderr_fd_ = err[0];
    wake_read_ = wake[0];
    wake_write_ = wake[1];
    exited_ = false;
    stderr_tail_.clear();
    reader_ = std::thread([this, events = std::move(events)] { read_loop(events); });
    return {};
  }

  Expected<void> send(const nlohmann::json& message) override {
    std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.push_back('\n');
    std::lock_guard<std::mutex> guard(write_mutex_);
    int fd;
    {
      std::lock_guard<std::mutex> state(mutex_);
      fd = exited_ ? -1 : sock_;
    }
    if (fd < 0) return Error{ErrorCode::unavailable, "MCP server '" + name_ + "' is not running"};
    std::size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error{ErrorCode::unavailable, "MCP server '" + name_ + "': writing to its stdin: " + errno_text(errno)};
      }
      off += static_cast<std::size_t>(n);
    }
    return {};
  }

  void close() override {
    std::thread reader;
    int sock, pidfd;
    pid_t pid;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!reader_.joinable()) return;
      reader = std::move(reader_);
      sock = sock_;
      pidfd = pidfd_;
      pid = pid_;
      closing_ = true;
    }
    // The MCP way to stop a stdio server: close its stdin, then SIGTERM, then SIGKILL.
    ::shutdown(sock, SHUT_WR);
    if (!wait_exit(pidfd, 2000)) {
      ::kill(-pid, SIGTERM);
      if (!wait_exit(pidfd, 2000)) ::kill(-pid, SIGKILL);
    }
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (wake_write_ >= 0) (void)!::write(wake_write_, "x", 1);
    }
    reader.join();
    std::lock_guard<std::mutex> guard(mutex_);
    for (int* fd : {&sock_, &stderr_fd_, &wake_read_, &wake_write_, &pidfd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    pid_ = 0;
    closing_ = false;
  }

  long pid() const override {
    std::lock_guard<std::mutex> guard(mutex_);
    return exited_ ? 0 : pid_;
  }

 private:
  void read_loop(const TransportEvents& events) {
    int sock, err, wake;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      sock = sock_;
      err = stderr_fd_;
      wake = wake_read_;
    }
    std::string buffer;
    char chunk[65536];
    bool out_open = true, err_open = true, oversized = false;
    while (out_open) {
      pollfd fds[3] = {{sock, POLLIN, 0}, {err_open ? err : -1, POLLIN, 0}, {wake, POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents) break;  // close(): the process is gone or being killed
      if (fds[1].revents) {
        const ssize_t n = ::read(err, chunk, sizeof chunk);
        if (n <= 0) err_open = false;
        else append_stderr(std::string_view(chunk, static_cast<std::size_t>(n)));
      }
      if (fds[0].revents) {
        const ssize_t n = ::recv(sock, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          out_open = false;
          break;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0, nl;
        while ((nl = buffer.find('\n', start)) != std::string::npos) {
          std::string_view line(buffer.data() + start, nl - start);
          start = nl + 1;
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
          auto parsed = nlohmann::json::parse(line, nullptr, false);
          // A server must not write anything but JSON-RPC to stdout; a stray line is kept for the
          // error message rather than ending the session.
          if (parsed.is_discarded()) append_stderr("[stdout, not JSON] " + std::string(line.substr(0, 200)) + "\n");
          else events.message(std::move(parsed));
        }
        buffer.erase(0, start);
        if (buffer.size() > kMaxLine) {
          oversized = true;
          break;
        }
      }
    }
    // Its stdout is closed (or it broke the protocol): the process is ending, or must.
    pid_t pid;
    int pidfd;
    bool closing;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      pid = pid_;
      pidfd = pidfd_;
      closing = closing_;
    }
    if (oversized || !wait_exit(pidfd, closing ? 5000 : 1000)) {
      ::kill(-pid, SIGKILL);
    }
    drain_stderr(err);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::kill(-pid, SIGKILL);  // what it started and left behind in its group
    std::string reason = "MCP server '" + name_ + "' " + (oversized ? "sent a message over 64 MiB and was stopped; it " : "") +
                         describe_exit(status);
    {
      std::lock_guard<std::mutex> guard(mutex_);
      std::string tail = stderr_tail_;
      while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.back()))) tail.pop_back();
      if (!tail.empty()) reason += "; its stderr ended with: " + tail;
    }
    if (!closing) events.closed(Error{ErrorCode::unavailable, reason});
    std::lock_guard<std::mutex> guard(mutex_);
    exited_ = true;  // after the event: pid() == 0 means the owner knows
  }

  void drain_stderr(int err) {
    char chunk[4096];
    for (;;) {
      pollfd p{err, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return;
      const ssize_t n = ::read(err, chunk, sizeof chunk);
      if (n <= 0) return;
      append_stderr(std::string_view(chunk, static_cast<std::size_t>(n)));
    }
  }

  void append_stderr(std::string_view text) {
    std::lock_guard<std::mutex> guard(mutex_);
    stderr_tail_.append(text);
    if (stderr_tail_.size() > kStderrTail) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTail);
  }

  const std::string name_;
  const StdioServer server_;
  mutable std::mutex mutex_;
  std::mutex write_mutex_;
  std::thread reader_;
  pid_t pid_ = 0;
  int pidfd_ = -1, sock_ = -1, stderr_fd_ = -1, wake_read_ = -1, wake_write_ = -1;
  bool exited_ = true;
  bool closing_ = false;
  std::string stderr_tail_;
};

}  // namespace

std::unique_ptr<Transport> make_stdio_transport(const std::string& server_name, StdioServer server) {
  return std::make_unique<StdioTransport>(server_name, std::move(server));
}

}  // namespace loomflow::mcp::detail
