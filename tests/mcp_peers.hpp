// The real MCP servers the tests talk to: @modelcontextprotocol/server-everything and
// server-filesystem from npm, installed at pinned versions into tests/mcp/node_modules by
// `./run.sh test` (npm ci). Over stdio the client starts them itself; for Streamable HTTP,
// `HttpPeer` starts server-everything on 127.0.0.1 (port 0, read back from its stderr) and kills
// it when the test ends. Without the packages the tests skip, unless LOOMFLOW_REQUIRE_MCP=1
// (set by run.sh) turns that into a failure.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loomflow/tools/mcp/client.hpp"

namespace loomflow::testing {

inline std::string mcp_dir() { return std::string(LOOMFLOW_SOURCE_DIR) + "/tests/mcp"; }
inline std::string everything_js() {
  return mcp_dir() + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}
inline std::string filesystem_js() {
  return mcp_dir() + "/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";
}

// Empty when the peers are installed; otherwise why not.
inline std::string mcp_peers_missing() {
  if (!std::filesystem::exists(everything_js()) || !std::filesystem::exists(filesystem_js()))
    return "the MCP test servers are not installed (npm ci --prefix tests/mcp)";
  if (std::system("node --version >/dev/null 2>&1") != 0) return "node is not on PATH";
  return "";
}

inline bool mcp_peers_required() {
  const char* v = std::getenv("LOOMFLOW_REQUIRE_MCP");
  return v != nullptr && std::string(v) == "1";
}

#define LOOMFLOW_REQUIRE_MCP_PEERS()                                          \
  do {                                                                        \
    if (auto why = ::loomflow::testing::mcp_peers_missing(); !why.empty()) { \
      if (::loomflow::testing::mcp_peers_required()) FAIL() << why;          \
      GTEST_SKIP() << why;                                                    \
    }                                                                         \
  } while (0)

inline mcp::StdioServer everything_stdio() { return mcp::StdioServer{{"node", everything_js(), "stdio"}, {}, {}}; }
inline mcp::StdioServer scripted_stdio(std::vector<std::string> extra = {}) {
  std::vector<std::string> command = {"node", std::string(LOOMFLOW_SOURCE_DIR) + "/tests/mcp/scripted_server.cjs"};
  command.insert(command.end(), extra.begin(), extra.end());
  return mcp::StdioServer{command, {}, {}};
}

inline std::string scripted_js() { return mcp_dir() + "/scripted_server.cjs"; }

// An MCP server over Streamable HTTP on 127.0.0.1, for the lifetime of the object: by default
// server-everything; else `node ARGS...` of a script that reports its port the same way.
class HttpPeer {
 public:
  HttpPeer() : HttpPeer({"--require", mcp_dir() + "/loopback_only.cjs", everything_js(), "streamableHttp"}) {}
  explicit HttpPeer(std::vector<std::string> node_args) {
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) return;
    std::vector<std::string> args = {"node"};
    args.insert(args.end(), node_args.begin(), node_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(err[1], STDERR_FILENO);
      const int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      ::setenv("PORT", "0", 1);
      ::execvp("node", argv.data());
      ::_exit(127);
    }
    ::close(err[1]);
    // Read its stderr until it reports the port (a blocking read: no sleeps, no guessing).
    std::string seen;
    char c;
    while (::read(err[0], &c, 1) == 1) {
      seen.push_back(c);
      const auto at = seen.find("LOOMFLOW_LISTENING ");
      if (at != std::string::npos && c == '\n') {
        port_ = std::atoi(seen.c_str() + at + 19);
        break;
      }
    }
    stderr_fd_ = err[0];  // kept open so the server never gets EPIPE on its logging
  }
  ~HttpPeer() { stop(); }
  HttpPeer(const HttpPeer&) = delete;
  HttpPeer& operator=(const HttpPeer&) = delete;

  bool running() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  pid_t pid() const { return pid_; }

  void stop() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = 0;
    }
    if (stderr_fd_ >= 0) ::close(stderr_fd_);
    stderr_fd_ = -1;
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
  int stderr_fd_ = -1;
};

}  // namespace loomflow::testing
