#include "loomflow/tools/sandbox/command_policy.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <set>

#include "loomflow/tools/sandbox/shell_words.hpp"

namespace loomflow::tools::sandbox {

namespace {

constexpr std::size_t kMaxCommands = 1000;  // simple commands checked per command line, strings included

// Programs that run another program named by a later word.
const std::set<std::string, std::less<>> kWrappers = {
    "sudo", "doas", "env", "xargs", "exec", "command", "builtin", "nohup", "timeout", "nice", "ionice",
    "time", "stdbuf", "setsid", "chroot", "unbuffer", "chrt", "taskset", "flock", "strace", "ltrace",
    "fakeroot", "runuser", "coproc", "parallel", "nsenter", "unshare", "setarch", "systemd-run"};
// Shells whose -c argument is a command line of its own.
const std::set<std::string, std::less<>> kShells = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "su", "busybox"};
// Reserved words after which the next word is a command.
const std::set<std::string, std::less<>> kLeadingReserved = {"if", "then", "else", "elif", "do", "while", "until",
                                                             "!", "{", "}", "fi", "done", "esac"};

std::string basename_of(std::string_view word) {
  auto slash = word.rfind('/');
  return std::string(slash == std::string_view::npos ? word : word.substr(slash + 1));
}

bool is_assignment(std::string_view word) {
  if (word.empty() || !(std::isalpha(static_cast<unsigned char>(word[0])) || word[0] == '_')) return false;
  for (std::size_t i = 1; i < word.size(); ++i) {
    const char c = word[i];
    if (c == '=' || c == '[' || (c == '+' && i + 1 < word.size() && word[i + 1] == '=')) return true;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return false;
}

bool is_number_like(std::string_view word) {  // "5", "2.5s", "10m": durations and priorities
  if (word.empty() || word.find_first_not_of("0123456789.") == 0) return false;
  std::size_t end = word.find_first_not_of("0123456789.");
  return end == std::string_view::npos || (end + 1 == word.size() && std::string_view("smhd").find(word[end]) != std::string_view::npos);
}

Error refused(std::string reason) {
  return Error{ErrorCode::permission_denied, "bash: refused by the command policy: " + std::move(reason)};
}

}  // namespace

struct CommandChecker::Compiled {
  CommandPolicy policy;
  std::vector<std::regex> patterns;

  bool denied(std::string_view word) const {
    const std::string base = basename_of(word);
    for (const auto& name : policy.denied_commands)
      if (name == word || name == base) return true;
    return false;
  }

  bool allowed(std::string_view word) const {
    if (policy.allowed_commands.empty()) return true;
    return std::find(policy.allowed_commands.begin(), policy.allowed_commands.end(), word) !=
           policy.allowed_commands.end();
  }

  Expected<void> check_program(const ShellWord& word) const {
    if (word.dynamic)
      return refused("the program name '" + word.text +
                     "' comes from an expansion, so it cannot be checked before it runs");
    if (denied(word.text)) return refused("'" + basename_of(word.text) + "' is in denied_commands");
    if (!allowed(word.text)) return refused("'" + word.text + "' is not in allowed_commands");
    return {};
  }

  // Checks one simple command; command lines found inside it (eval, trap, sh -c) go to `more`.
  Expected<void> check_simple(const SimpleCommand& command, std::deque<std::string>& more) const {
    const auto& words = command.words;
    std::size_t i = 0;
    while (i < words.size() && is_assignment(words[i].text)) ++i;
    while (i < words.size()) {
      const ShellWord& word = words[i];
      if (!word.dynamic && kLeadingReserved.count(word.text)) {
        ++i;
        continue;
      }
      if (!word.dynamic && (word.text == "for" || word.text == "select" || word.text == "[[")) return {};
      if (!word.dynamic && word.text == "case") return refused("case statements cannot be checked");
      if (!word.dynamic && word.text == "function") {
        i += 2;
        continue;
      }
      if (auto ok = check_program(word); !ok) return ok;
      const std::string name = basename_of(word.text);
      if (name == "watch") {  // watch runs its arguments as one sh -c string
        std::string line;
        for (std::size_t k = i + 1; k < words.size(); ++k) {
          if (words[k].text.starts_with('-') && line.empty()) continue;
          if (words[k].dynamic) return refused("'watch' runs a computed string");
          line += words[k].text + " ";
        }
        more.push_back(line);
        return {};
      }
      if (kWrappers.count(name)) {
        for (std::size_t k = i + 1; k < words.size(); ++k)
          if (!words[k].dynamic && denied(words[k].text))
            return refused("'" + basename_of(words[k].text) + "' (run by '" + name + "') is in denied_commands");
        ++i;
        while (i < words.size() && !words[i].dynamic &&
               ((words[i].text.size() > 1 && words[i].text[0] == '-') || is_assignment(words[i].text) ||
                is_number_like(words[i].text)))
          ++i;
        continue;
      }
      if (name == "eval" || name == "trap") {
        std::string line;
        for (std::size_t k = i + 1; k < words.size(); ++k) {
          if (words[k].dynamic) return refused("'" + name + "' runs a computed string");
          line += words[k].text + " ";
          if (name == "trap") break;  // trap ACTION SIGNAL...
        }
        more.push_back(line);
        return {};
      }
      if (kShells.count(name)) {
        for (std::size_t k = i + 1; k < words.size(); ++k) {
          const std::string& arg = words[k].text;
          const bool c_option = arg.size() > 1 && arg[0] == '-' && arg[1] != '-' && arg.find('c') != std::string::npos;
          if (!c_option) continue;
          if (k + 1 >= words.size()) return {};
          if (words[k + 1].dynamic) return refused("'" + name + " -c' runs a computed string");
          more.push_back(words[k + 1].text);
          return {};
        }
        return {};
      }
      if (name == "find") {
        for (std::size_t k = i + 1; k + 1 < words.size(); ++k) {
          const std::string& arg = words[k].text;
          if (arg == "-exec" || arg == "-execdir" || arg == "-ok" || arg == "-okdir") {
            SimpleCommand inner;
            inner.words.assign(words.begin() + static_cast<std::ptrdiff_t>(k + 1), words.end());
            if (auto ok = check_simple(inner, more); !ok) return ok;
          }
        }
      }
      return {};
    }
    return {};
  }
};

Expected<CommandChecker> CommandChecker::compile(CommandPolicy policy) {
  auto compiled = std::make_shared<Compiled>();
  for (const auto& pattern : policy.denied_patterns) {
    try {
      compiled->patterns.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Error{ErrorCode::invalid_argument, "bash: denied pattern '" + pattern + "' is not a valid regex: " + e.what()};
    }
  }
  compiled->policy = std::move(policy);
  return CommandChecker(std::move(compiled));
}

Expected<void> CommandChecker::check(std::string_view command) const {
  const Compiled& c = *compiled_;
  for (std::size_t k = 0; k < c.patterns.size(); ++k) {
    bool hit = true;  // a pattern too complex to run refuses, conservatively
    try {
      hit = std::regex_search(command.begin(), command.end(), c.patterns[k]);
    } catch (const std::regex_error&) {
    }
    if (hit) return refused("the command matches denied pattern '" + c.policy.denied_patterns[k] + "'");
  }
  if (c.policy.allowed_commands.empty() && c.policy.denied_commands.empty()) return {};
  std::deque<std::string> lines{std::string(command)};
  std::size_t checked = 0;
  while (!lines.empty()) {
    auto commands = split_simple_commands(lines.front());
    lines.pop_front();
    if (!commands) return refused("the command cannot be read with confidence (" + commands.error().message + ")");
    for (const auto& simple : *commands) {
      if (++checked > kMaxCommands) return refused("the command has too many parts to check");
      if (auto ok = c.check_simple(simple, lines); !ok) return ok;
    }
  }
  return {};
}

}  // namespace loomflow::tools::sandbox
