// The node functions behind the spec's "keyword_classifier" and "template" node types.
#include <algorithm>
#include <memory>

#include "loomflow/spec.hpp"

namespace loomflow {

namespace {

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); });
  return out;
}

// Bytes >= 0x80 count as word characters so that a keyword never matches inside a non-ASCII word.
bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

// True when `keyword` occurs in `text` with word boundaries (both already lower-cased). A boundary
// is only required where the keyword itself starts or ends with a word character (like regex \b).
bool contains_word(const std::string& text, const std::string& keyword) {
  if (keyword.empty()) return false;
  const bool word_start = is_word_byte(static_cast<unsigned char>(keyword.front()));
  const bool word_end = is_word_byte(static_cast<unsigned char>(keyword.back()));
  for (auto pos = text.find(keyword); pos != std::string::npos; pos = text.find(keyword, pos + 1)) {
    const auto end = pos + keyword.size();
    const bool left_ok = !word_start || pos == 0 || !is_word_byte(static_cast<unsigned char>(text[pos - 1]));
    const bool right_ok = !word_end || end == text.size() || !is_word_byte(static_cast<unsigned char>(text[end]));
    if (left_ok && right_ok) return true;
  }
  return false;
}

}  // namespace

NodeFn keyword_classifier(std::vector<KeywordLabel> labels, std::string default_label) {
  // Lower-case the keywords once, not on every call; shared so copies of the NodeFn stay cheap.
  for (auto& label : labels)
    for (auto& keyword : label.keywords) keyword = ascii_lower(keyword);
  auto frozen = std::make_shared<const std::vector<KeywordLabel>>(std::move(labels));
  return [frozen, fallback = std::move(default_label)](const NodeContext& ctx) -> Expected<std::string> {
    const std::string text = ascii_lower(ctx.input);
    for (const auto& label : *frozen)
      for (const auto& keyword : label.keywords)
        if (contains_word(text, keyword)) return label.label;
    return fallback;
  };
}

NodeFn text_template(std::string text) {
  return [text = std::move(text)](const NodeContext& ctx) -> Expected<std::string> {
    static constexpr std::string_view kPlaceholder = "{input}";
    std::string out;
    out.reserve(text.size() + ctx.input.size());
    std::size_t from = 0;
    for (auto pos = text.find(kPlaceholder); pos != std::string::npos; pos = text.find(kPlaceholder, from)) {
      out.append(text, from, pos - from);
      out.append(ctx.input);
      from = pos + kPlaceholder.size();
    }
    out.append(text, from, std::string::npos);
    return out;
  };
}

}  // namespace loomflow
