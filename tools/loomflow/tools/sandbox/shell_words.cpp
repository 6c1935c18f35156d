#include "loomflow/tools/sandbox/shell_words.hpp"

#include <cctype>

namespace loomflow::tools::sandbox {

namespace {

constexpr int kMaxDepth = 32;

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool ends_word(char c) { return std::string_view(" \t\n;|&()<>").find(c) != std::string_view::npos; }

struct Heredoc {
  std::string delimiter;
  bool strip_tabs = false;
  bool expands = false;  // an unquoted delimiter: the body undergoes $( ) and ` ` substitution
};

class Parser {
 public:
  Parser(std::string_view text, int depth, std::vector<SimpleCommand>& out) : s_(text), depth_(depth), out_(out) {}

  // Reads commands until `stop` (')' for subshells and $( ), or the end for 0).
  bool parse_list(char stop) {
    SimpleCommand current;
    bool redirect_pending = false;
    bool heredoc_pending = false;
    Heredoc heredoc;
    for (;;) {
      while (i_ < s_.size() && (is_blank(s_[i_]) || (s_[i_] == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n')))
        i_ += is_blank(s_[i_]) ? 1 : 2;
      if (i_ >= s_.size()) {
        if (redirect_pending) return fail("a redirection has no target");
        if (!heredocs_.empty()) return fail("a heredoc has no body");
        if (stop) return fail(std::string("unbalanced parentheses: missing '") + stop + "'");
        flush(current);
        return true;
      }
      const char c = s_[i_];
      if (c == '#') {  // a comment, up to the end of the line
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == ')') {
        if (stop != ')') return fail("unbalanced ')' (case statements are not supported)");
        if (redirect_pending) return fail("a redirection has no target");
        ++i_;
        flush(current);
        return true;
      }
      if (c == '&' && i_ + 1 < s_.size() && s_[i_ + 1] == '>') {  // &> and &>>
        i_ += 2;
        if (i_ < s_.size() && s_[i_] == '>') ++i_;
        redirect_pending = true;
        continue;
      }
      if (c == '\n' || c == ';' || c == '|' || c == '&') {
        if (redirect_pending) return fail("a redirection has no target");
        ++i_;
        if (i_ < s_.size() && c != '\n' && (s_[i_] == c || (c == '|' && s_[i_] == '&') || (c == ';' && s_[i_] == '&')))
          ++i_;
        flush(current);
        if (c == '\n' && !read_heredoc_bodies()) return false;
        continue;
      }
      if (c == '(') {
        ++i_;
        flush(current);
        if (!nested([&] { return parse_list(')'); })) return false;
        continue;
      }
      if (c == '<' || c == '>') {
        if (redirect_pending) return fail("a redirection has no target");
        if (i_ + 1 < s_.size() && s_[i_ + 1] == '(') {  // process substitution
          i_ += 2;
          if (!nested([&] { return parse_list(')'); })) return false;
          continue;
        }
        if (s_.substr(i_, 3) == "<<<") {
          i_ += 3;
        } else if (s_.substr(i_, 2) == "<<") {
          i_ += 2;
          heredoc = Heredoc{};
          if (i_ < s_.size() && s_[i_] == '-') {
            heredoc.strip_tabs = true;
            ++i_;
          }
          heredoc_pending = true;
        } else {
          ++i_;
          if (i_ < s_.size() && std::string_view("<>&|").find(s_[i_]) != std::string_view::npos) ++i_;
        }
        redirect_pending = true;
        continue;
      }
      ShellWord word;
      bool fd_prefix = false;
      const std::size_t start = i_;
      if (!read_word(word, fd_prefix)) return false;
      if (fd_prefix) continue;  // the "2" of 2>&1
      if (redirect_pending) {
        redirect_pending = false;
        if (heredoc_pending) {
          heredoc_pending = false;
          heredoc.delimiter = word.text;
          heredoc.expands = s_.substr(start, i_ - start).find_first_of("'\"\\") == std::string_view::npos;
          heredocs_.push_back(heredoc);
        }
        continue;  // a redirection target is no word of the command (its substitutions were recorded)
      }
      current.words.push_back(std::move(word));
    }
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  template <class F>
  bool nested(F&& f) {
    if (depth_ + 1 > kMaxDepth) return fail("the command is nested too deeply");
    ++depth_;
    bool ok = f();
    --depth_;
    return ok;
  }

  void flush(SimpleCommand& current) {
    if (!current.words.empty()) out_.push_back(std::move(current));
    current = SimpleCommand{};
  }

  // Parses a separate text (a backtick body, an expanding heredoc body) into the same output.
  bool parse_text(std::string_view text, bool expansions_only) {
    return nested([&] {
      Parser sub(text, depth_, out_);
      bool ok = expansions_only ? sub.scan_expansions() : sub.parse_list(0);
      if (!ok) fail(sub.error_);
      return ok;
    });
  }

  // Only the substitutions of a text (an expanding heredoc body): $( ), ` ` and ${ }.
  bool scan_expansions() {
    ShellWord ignored;
    while (i_ < s_.size()) {
      if (s_[i_] == '\\') {
        i_ += 2;
      } else if (s_[i_] == '$') {
        if (!dollar(ignored, true)) return false;
      } else if (s_[i_] == '`') {
        if (!backtick(ignored)) return false;
      } else {
        ++i_;
      }
    }
    return true;
  }

  bool read_heredoc_bodies() {
    for (const auto& heredoc : heredocs_) {
      std::string body;
      bool closed = false;
      while (i_ < s_.size()) {
        std::size_t end = s_.find('\n', i_);
        if (end == std::string_view::npos) end = s_.size();
        std::string_view line = s_.substr(i_, end - i_);
        i_ = end < s_.size() ? end + 1 : end;
        if (heredoc.strip_tabs)
          while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
        if (line == heredoc.delimiter) {
          closed = true;
          break;
        }
        body.append(line);
        body += '\n';
      }
      if (!closed) return fail("a heredoc is not terminated by '" + heredoc.delimiter + "'");
      if (heredoc.expands && !parse_text(body, true)) return false;
    }
    heredocs_.clear();
    return true;
  }

  bool read_word(ShellWord& word, bool& fd_prefix) {
    bool quoted = false;
    bool brace = false;
    while (i_ < s_.size() && !ends_word(s_[i_])) {
      const char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) return fail("the command ends with a lone backslash");
        if (s_[i_ + 1] != '\n') word.text += s_[i_ + 1];
        quoted = true;
        i_ += 2;
      } else if (c == '\'') {
        std::size_t close = s_.find('\'', i_ + 1);
        if (close == std::string_view::npos) return fail("unbalanced single quote");
        word.text.append(s_.substr(i_ + 1, close - i_ - 1));
        quoted = true;
        i_ = close + 1;
      } else if (c == '"') {
        quoted = true;
        if (!double_quoted(word)) return false;
      } else if (c == '$') {
        if (!dollar(word, false)) return false;
      } else if (c == '`') {
        if (!backtick(word)) return false;
      } else {
        if (c == '*' || c == '?' || c == '[' || (c == '~' && word.text.empty())) word.dynamic = true;
        if (c == '{') brace = true;
        word.text += c;
        ++i_;
      }
    }
    if (brace && word.text != "{") word.dynamic = true;  // brace expansion: {a,b} or {1..3}
    fd_prefix = !quoted && !word.text.empty() && i_ < s_.size() && (s_[i_] == '<' || s_[i_] == '>') &&
                word.text.find_first_not_of("0123456789") == std::string::npos;
    return true;
  }

  // At '"': up to the closing quote; $ and ` still expand inside.
  bool double_quoted(ShellWord& word) {
    ++i_;
    for (;;) {
      if (i_ >= s_.size()) return fail("unbalanced double quote");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c == '\\' && i_ + 1 < s_.size() && std::string_view("$`\"\\\n").find(s_[i_ + 1]) != std::string_view::npos) {
        if (s_[i_ + 1] != '\n') word.text += s_[i_ + 1];
        i_ += 2;
      } else if (c == '$') {
        if (!dollar(word, true)) return false;
      } else if (c == '`') {
        if (!backtick(word)) return false;
      } else {
        word.text += c;
        ++i_;
      }
    }
  }

  // At '$': a substitution, a parameter expansion or a literal '$'.
  bool dollar(ShellWord& word, bool in_double_quotes) {
    const char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    word.text += '$';
    if (next == '(' && i_ + 2 < s_.size() && s_[i_ + 2] == '(') {
      word.dynamic = true;
      i_ += 3;
      return nested([&] { return arithmetic(word); });
    }
    if (next == '(') {
      word.dynamic = true;
      i_ += 2;
      return nested([&] { return parse_list(')'); });
    }
    if (next == '{') {
      word.dynamic = true;
      i_ += 2;
      return nested([&] { return parameter(word); });
    }
    if (next == '\'' && !in_double_quotes) {  // $'...': ANSI-C quoting can spell any name
      word.dynamic = true;
      for (i_ += 2; i_ < s_.size() && s_[i_] != '\''; ++i_)
        if (s_[i_] == '\\') ++i_;
      if (i_ >= s_.size()) return fail("unbalanced $' quote");
      ++i_;
      return true;
    }
    if (next == '"' && !in_double_quotes) {  // $"...": a translated string, read as "..."
      ++i_;
      return true;
    }
    if (std::isalnum(static_cast<unsigned char>(next)) || std::string_view("_@*#?$!-").find(next) != std::string_view::npos)
      word.dynamic = true;
    ++i_;
    return true;
  }

  // After "$((": up to the matching "))"; substitutions inside are recorded.
  bool arithmetic(ShellWord& word) {
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '(') {
        ++depth;
        ++i_;
      } else if (c == ')') {
        if (depth == 0) {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == ')') {
            i_ += 2;
            return true;
          }
          return fail("unbalanced $(( ))");
        }
        --depth;
        ++i_;
      } else if (c == '$') {
        if (!dollar(word, true)) return false;
      } else if (c == '`') {
        if (!backtick(word)) return false;
      } else if (c == '\\') {
        i_ += 2;
      } else {
        ++i_;
      }
    }
    return fail("unbalanced $(( ))");
  }

  // After "${": up to the matching '}'; quotes and substitutions inside are read.
  bool parameter(ShellWord& word) {
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '}' && depth == 0) {
        ++i_;
        return true;
      }
      if (c == '{') ++depth;
      if (c == '}') --depth;
      if (c == '\\') {
        i_ += 2;
      } else if (c == '\'') {
        std::size_t close = s_.find('\'', i_ + 1);
        if (close == std::string_view::npos) return fail("unbalanced single quote");
        i_ = close + 1;
      } else if (c == '"') {
        ShellWord ignored;
        if (!double_quoted(ignored)) return false;
      } else if (c == '$') {
        if (!dollar(word, true)) return false;
      } else if (c == '`') {
        if (!backtick(word)) return false;
      } else {
        ++i_;
      }
    }
    return fail("unbalanced ${ }");
  }

  // At '`': the body (with \` \$ \\ unescaped) is parsed as a command of its own.
  bool backtick(ShellWord& word) {
    word.dynamic = true;
    word.text += '`';
    std::string body;
    for (++i_;; ++i_) {
      if (i_ >= s_.size()) return fail("unbalanced backtick");
      const char c = s_[i_];
      if (c == '`') {
        ++i_;
        break;
      }
      if (c == '\\' && i_ + 1 < s_.size() && std::string_view("`$\\").find(s_[i_ + 1]) != std::string_view::npos) {
        body += s_[++i_];
        continue;
      }
      body += c;
    }
    return parse_text(body, false);
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int depth_;
  std::vector<SimpleCommand>& out_;
  std::vector<Heredoc> heredocs_;
  std::string error_;
};

}  // namespace

Expected<std::vector<SimpleCommand>> split_simple_commands(std::string_view command) {
  std::vector<SimpleCommand> out;
  Parser parser(command, 0, out);
  if (!parser.parse_list(0)) return Error{ErrorCode::invalid_argument, parser.error()};
  return out;
}

}  // namespace loomflow::tools::sandbox
