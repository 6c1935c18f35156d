// Test scratch space and child programs: a temporary directory removed at the end of the test, and
// running a program (the CLI) with its stdout and stderr captured separately.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace loomflow::testing {

// A fresh directory under /tmp (canonical path), removed with everything in it (links not
// followed) when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "loomflow-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    path_ = std::filesystem::canonical(::mkdtemp(pattern.data()));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CliOutcome {
  int status = -1;  // the exit status; -1 when it did not exit normally
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `program` with `args` through the shell, capturing stdout and stderr separately.
inline CliOutcome execute(const std::string& program, const std::vector<std::string>& args) {
  static int counter = 0;
  const auto err_path = std::filesystem::temp_directory_path() /
                        ("loomflow-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".err");
  std::string command = shell_quote(program);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " 2>" + shell_quote(err_path.string());
  CliOutcome outcome;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return outcome;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) outcome.out.append(buffer.data(), n);
  const int raw = ::pclose(pipe);
  outcome.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream err(err_path);
  outcome.err.assign(std::istreambuf_iterator<char>(err), {});
  std::filesystem::remove(err_path);
  return outcome;
}

}  // namespace loomflow::testing
