// The bash tool: output, exit codes, working directories confined to the root, a scrubbed
// environment, an output cap that never blocks the command, and a timeout that kills the whole
// process tree — setsid escapees and background jobs included — before the call returns.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/tools/sandbox/bash.hpp"
#include "scratch.hpp"

using namespace loomflow;
using loomflow::tools::BashOptions;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct TempDir : loomflow::testing::TempDir {
  TempDir() : loomflow::testing::TempDir("loomflow-sandbox-bash") {}
};

// Processes whose command line contains `marker` (the unique argument of a test's sleeps).
std::vector<std::string> processes_with(const std::string& marker) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find(marker) != std::string::npos) found.push_back(name + ": " + cmdline);
  }
  return found;
}

// A sleep argument unique to this test process and call, e.g. "1037.4242".
std::string marker(int base) { return std::to_string(base) + "." + std::to_string(getpid()); }

class BashTool : public ::testing::Test {
 protected:
  BashOptions options() const {
    BashOptions o;
    o.root = temp_.path();
    o.default_timeout = std::chrono::seconds(20);
    return o;
  }

  static Expected<std::string> call(const Tool& tool, const json& arguments, const std::string& user = "alice") {
    UserId user_id{user};
    SessionId session{"s"};
    ToolContext ctx{user_id, session, "agent/turn-1/tool-0", "s/agent/turn-1/tool-0"};
    return tool.impl().fn(ctx, arguments.dump());
  }

  Expected<std::string> run(const std::string& command, BashOptions o) {
    auto tool = tools::bash_tool(std::move(o));
    if (!tool) return tool.error();
    return call(*tool, json{{"command", command}});
  }
  Expected<std::string> run(const std::string& command) { return run(command, options()); }

  static json result_of(const Expected<std::string>& result) {
    EXPECT_TRUE(result) << result.error().describe();
    return result ? json::parse(*result) : json();
  }

  TempDir temp_;
};

}  // namespace

TEST_F(BashTool, ReturnsStdoutStderrAndTheExitCodeAsJson) {
  auto r = result_of(run("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(r, (json{{"exit_code", 3}, {"stdout", "out\n"}, {"stderr", "err\n"}, {"truncated", false}}));
}

TEST_F(BashTool, AKillingSignalIsReportedAsExitCode128PlusTheSignal) {
  EXPECT_EQ(result_of(run("kill -TERM $$"))["exit_code"], 128 + 15);
}

TEST_F(BashTool, StdinIsEmpty) {
  EXPECT_EQ(result_of(run("cat; echo end"))["stdout"], "end\n");
}

TEST_F(BashTool, RunsInTheRootOrInACwdBelowIt) {
  fs::create_directories(temp_.path() / "sub" / "deeper");
  EXPECT_EQ(result_of(run("pwd"))["stdout"], temp_.path().string() + "\n");
  auto tool = tools::bash_tool(options()).value();
  EXPECT_EQ(result_of(call(tool, {{"command", "pwd"}, {"cwd", "sub/deeper"}}))["stdout"],
            (temp_.path() / "sub" / "deeper").string() + "\n");
}

TEST_F(BashTool, ACwdOutsideTheRootIsRefused) {
  fs::create_directories(temp_.path() / "root");
  fs::create_symlink("/etc", temp_.path() / "root" / "etc-link");
  auto o = options();
  o.root = temp_.path() / "root";
  auto tool = tools::bash_tool(o).value();
  for (const std::string cwd : {"..", "/etc", "etc-link"}) {
    auto result = call(tool, {{"command", "pwd"}, {"cwd", cwd}});
    ASSERT_FALSE(result) << cwd;
    EXPECT_EQ(result.error().code, ErrorCode::tool_error);
    EXPECT_TRUE(result.error().message.starts_with("bash: path '" + cwd + "' escapes the root")) << result.error().message;
  }
}

TEST_F(BashTool, TheEnvironmentIsScrubbedToPathHomeLangTheCallsKeyAndWhatTheOptionsAdd) {
  // Set before any tool exists; the tool itself never reads or changes the environment per call.
  setenv("LOOMFLOW_SANDBOX_SECRET", "leaked", 1);
  setenv("LOOMFLOW_SANDBOX_PASSED", "passed", 1);
  auto o = options();
  o.pass_env = {"LOOMFLOW_SANDBOX_PASSED", "LOOMFLOW_SANDBOX_ABSENT"};
  o.extra_env = {{"GREETING", "hi"}};
  auto r = result_of(run("env | grep -v '^_=' | grep -v '^PWD=' | grep -v '^SHLVL=' | sort", o));
  EXPECT_EQ(r["stdout"], "GREETING=hi\nHOME=" + temp_.path().string() +
                             "\nLANG=C.UTF-8\nLOOMFLOW_IDEMPOTENCY_KEY=s/agent/turn-1/tool-0\nLOOMFLOW_REDELIVERY=0"
                             "\nLOOMFLOW_SANDBOX_PASSED=passed\nPATH=/usr/local/bin:/usr/bin:/bin\n");
  unsetenv("LOOMFLOW_SANDBOX_SECRET");
  unsetenv("LOOMFLOW_SANDBOX_PASSED");
}

TEST_F(BashTool, ARedeliveredCallSeesItsKeyAndTheRedeliveryFlag) {
  auto tool = tools::bash_tool(options()).value();
  UserId user_id{"alice"};
  SessionId session{"s-9"};
  ToolContext ctx{user_id, session, "agent/turn-2/tool-1", "s-9/agent/turn-2/tool-1", true};
  auto out = tool.impl().fn(ctx, json{{"command", "echo \"$LOOMFLOW_IDEMPOTENCY_KEY $LOOMFLOW_REDELIVERY\""}}.dump());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(result_of(out)["stdout"], "s-9/agent/turn-2/tool-1 1\n");
}

TEST_F(BashTool, OutputPastTheCapIsDrainedAndDroppedWithoutBlockingTheCommand) {
  auto o = options();
  o.max_output_bytes = 1000;
  auto r = result_of(run("head -c 10000000 /dev/zero | tr '\\0' x; echo finished >&2; exit 7", o));
  EXPECT_EQ(r["exit_code"], 7);  // it ran to the end: 10 MB did not block on a full pipe
  EXPECT_EQ(r["truncated"], true);
  EXPECT_EQ(r["stdout"], std::string(1000, 'x') + "\n[output truncated at 1000 bytes]");
  EXPECT_EQ(r["stderr"], "\n[output truncated at 1000 bytes]");
}

TEST_F(BashTool, ATimeoutKillsTheWholeTreeIncludingSetsidEscapeesAndBackgroundJobs) {
  const std::string m = marker(1037);
  const std::string command = "sleep " + m + "1 & setsid sleep " + m + "2 & (sleep " + m +
                              "3 &); nohup setsid bash -c 'sleep " + m + "4' >/dev/null 2>&1 & echo started; sleep " + m + "5";
  auto tool = tools::bash_tool(options()).value();
  auto result = call(tool, {{"command", command}, {"timeout_ms", 500}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::tool_error);
  EXPECT_EQ(result.error().message,
            "bash: command timed out after 500 ms; its process tree was killed\nstdout so far:\nstarted\n");
  EXPECT_EQ(processes_with(m), std::vector<std::string>{});  // dead when the call returns: no waiting
}

TEST_F(BashTool, BackgroundJobsStillRunningWhenTheCommandExitsAreKilled) {
  const std::string m = marker(1038);
  auto r = result_of(run("setsid sleep " + m + "1 >/dev/null 2>&1 & sleep " + m + "2 & echo started"));
  EXPECT_EQ(r["exit_code"], 0);
  EXPECT_EQ(r["stdout"], "started\n");
  EXPECT_EQ(processes_with(m), std::vector<std::string>{});
}

TEST_F(BashTool, ACommandThatClosesItsOutputStillTimesOut) {
  const std::string m = marker(1039);
  auto tool = tools::bash_tool(options()).value();
  auto result = call(tool, {{"command", "exec >&- 2>&-; sleep " + m}, {"timeout_ms", 300}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "bash: command timed out after 300 ms; its process tree was killed");
  EXPECT_EQ(processes_with(m), std::vector<std::string>{});
}

TEST_F(BashTool, TheTimeoutAskedForIsCappedByMaxTimeout) {
  auto o = options();
  o.default_timeout = std::chrono::milliseconds(100);
  o.max_timeout = std::chrono::milliseconds(200);
  auto tool = tools::bash_tool(o).value();
  auto result = call(tool, {{"command", "sleep " + marker(1040)}, {"timeout_ms", 100000}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "bash: command timed out after 200 ms; its process tree was killed");
}

TEST_F(BashTool, APolicyRefusalNamesTheProgramAndTheListAndRunsNothing) {
  auto o = options();
  o.denied_commands = {"rm"};
  auto result = run("touch ran; ls | rm -f ran", o);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::permission_denied);
  EXPECT_EQ(result.error().message, "bash: refused by the command policy: 'rm' is in denied_commands");
  EXPECT_FALSE(fs::exists(temp_.path() / "ran"));
  o.denied_commands = {};
  o.allowed_commands = {"echo"};
  auto cat = run("echo hi | cat", o);
  ASSERT_FALSE(cat);
  EXPECT_EQ(cat.error().message, "bash: refused by the command policy: 'cat' is not in allowed_commands");
  EXPECT_EQ(result_of(run("echo hi > out.txt 2>&1", o))["exit_code"], 0);
}

TEST_F(BashTool, PerUserRunsInTheUsersOwnDirectory) {
  auto o = options();
  o.per_user = true;
  auto tool = tools::bash_tool(o).value();
  const std::string home = (temp_.path() / "bob").string();
  EXPECT_EQ(result_of(call(tool, {{"command", "pwd; echo $HOME"}}, "bob"))["stdout"], home + "\n" + home + "\n");
  auto bad = call(tool, {{"command", "pwd"}}, "../x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
}

TEST_F(BashTool, AProgramThatCannotStartIsExitCode127WithAMessage) {
  auto o = options();
  o.shell = "/nonexistent/bash";
  auto r = result_of(run("true", o));
  EXPECT_EQ(r["exit_code"], 127);
  EXPECT_EQ(r["stderr"], "bash tool: cannot run /nonexistent/bash: No such file or directory\n");
}

TEST_F(BashTool, BadArgumentsAndOptionsAreErrors) {
  auto empty = run("  ");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "bash: command must not be empty");
  auto tool = tools::bash_tool(options()).value();
  auto zero = call(tool, {{"command", "true"}, {"timeout_ms", 0}});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message, "bash: timeout_ms must be at least 1");
  EXPECT_FALSE(tools::bash_tool(BashOptions{}));
  auto o = options();
  o.denied_patterns = {"(unclosed"};
  auto bad_regex = tools::bash_tool(o);
  ASSERT_FALSE(bad_regex);
  EXPECT_EQ(bad_regex.error().code, ErrorCode::invalid_argument);
  o = options();
  o.default_timeout = std::chrono::minutes(10);
  EXPECT_FALSE(tools::bash_tool(o));
}

TEST_F(BashTool, ConcurrentCallsAreIndependent) {
  auto tool = tools::bash_tool(options()).value();
  const std::string m = marker(1041);
  constexpr int kCalls = 8;
  std::vector<Expected<std::string>> results(kCalls, Error{ErrorCode::internal, "not run"});
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      json args = {{"command", "echo call " + std::to_string(i) + "; echo e" + std::to_string(i) + " >&2"}};
      if (i == 0) args = {{"command", "sleep " + m + " & sleep " + m}, {"timeout_ms", 300}};
      results[static_cast<std::size_t>(i)] = call(tool, args);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(results[0]);
  EXPECT_TRUE(results[0].error().message.starts_with("bash: command timed out after 300 ms"));
  for (int i = 1; i < kCalls; ++i) {
    auto r = result_of(results[static_cast<std::size_t>(i)]);
    EXPECT_EQ(r["stdout"], "call " + std::to_string(i) + "\n");
    EXPECT_EQ(r["stderr"], "e" + std::to_string(i) + "\n");
  }
  EXPECT_EQ(processes_with(m), std::vector<std::string>{});
}
