#include "loomflow/tools/sandbox/text.hpp"

namespace loomflow::tools::sandbox {

bool looks_binary(std::string_view head) noexcept {
  return head.substr(0, 8192).find('\0') != std::string_view::npos;
}

std::size_t utf8_cut(std::string_view text, std::size_t max) noexcept {
  if (text.size() <= max) return text.size();
  std::size_t cut = max;
  // Back up over continuation bytes (at most three) so a sequence is not split.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++i) --cut;
  return cut;
}

}  // namespace loomflow::tools::sandbox
