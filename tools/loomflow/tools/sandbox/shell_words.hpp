// loomflow/tools/sandbox/shell_words.hpp — a conservative reading of a bash command line into
// its simple commands, for the bash tool's command policy.
//
// It is not a bash parser; it finds every place a program can be named so the policy can check it:
//   * simple commands split on | || && ; & |& ;; and newlines, and inside ( ) subshells, { } groups,
//     $( ) and ` ` command substitutions (also inside double quotes and ${ }), <( ) >( ) process
//     substitutions and $(( )) arithmetic — each substitution's commands are simple commands too;
//   * words with quotes removed and escapes resolved; a word whose value depends on an expansion
//     ($VAR, ${...}, $(...), globs *?[, brace expansion, ~) is marked `dynamic`;
//   * redirection targets are not words of the command.
// Anything it cannot read with confidence — unbalanced quotes, parentheses or backticks, a trailing
// backslash, nesting deeper than 32 — is an error: the caller refuses the command.
// Heredoc bodies are read as commands (a conservative over-approximation).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "loomflow/error.hpp"

namespace loomflow::tools::sandbox {

struct ShellWord {
  std::string text;      // quotes removed, escapes resolved; expansions kept as written
  bool dynamic = false;  // the value depends on an expansion: it cannot be known before running
};

struct SimpleCommand {
  std::vector<ShellWord> words;  // assignments and the command words, in order
};

// The simple commands of `command` (outer ones and those of every substitution), or an
// invalid_argument Error naming what could not be read.
Expected<std::vector<SimpleCommand>> split_simple_commands(std::string_view command);

}  // namespace loomflow::tools::sandbox
