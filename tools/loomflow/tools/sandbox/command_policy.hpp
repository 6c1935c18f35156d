// loomflow/tools/sandbox/command_policy.hpp — which bash command lines the bash tool may run.
//
// A policy names programs to allow (empty: any) and to deny, and ECMAScript regexes that deny
// a whole command line. The check is conservative:
//   * every simple command is checked, including those in pipelines, lists, subshells, groups,
//     $( ), ` `, <( ), heredoc bodies, `eval` strings, `trap` strings, `sh|bash|... -c` strings
//     and `find -exec`; after a wrapper (sudo, env, xargs, exec, command, nohup, timeout, nice,
//     setsid, stdbuf, time, ...) the wrapped program is checked too, and every later word of a
//     wrapper's command is checked against denied_commands;
//   * a program is compared by its name: denied_commands matches a word or its basename
//     ("/bin/rm" is "rm"); allowed_commands matches the word exactly, and a word with a '/' is
//     allowed only when listed with that path;
//   * a program name computed at run time ($CMD, `...`, globs) is refused whenever a program
//     list is set, and so is any command line that cannot be read with confidence (unbalanced
//     quotes, case statements, ...).
// It is a guard against mistakes, not a security boundary: an allowed program that interprets its
// own language (python -c, awk, perl, make, git aliases, a script file) can run anything.
// Thread-safety: a CommandChecker is immutable after `compile`; `check` may run concurrently.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::tools::sandbox {

struct CommandPolicy {
  std::vector<std::string> allowed_commands;  // program names that may run; empty = any (default)
  std::vector<std::string> denied_commands;   // program names that may not run (default: none)
  std::vector<std::string> denied_patterns;   // ECMAScript regexes searched in the command (default: none)
};

class CommandChecker {
 public:
  // Fails (invalid_argument) when a denied pattern is not a valid regex.
  static Expected<CommandChecker> compile(CommandPolicy policy);

  // Ok, or Error{permission_denied, "bash: refused by the command policy: ..."} naming the
  // offending program (or pattern) and the list that refused it.
  Expected<void> check(std::string_view command) const;

 private:
  struct Compiled;
  explicit CommandChecker(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace loomflow::tools::sandbox
