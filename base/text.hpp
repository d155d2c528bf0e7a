#pragma once
// Small text checks shared by the parsers (opt-out list, notice register,
// SS-MIX2 names, receipts, HTTP headers).
#include <string_view>

namespace medgw::base {

// Non-empty and only the ASCII digits 0-9.
[[nodiscard]] constexpr bool all_digits(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Without the spaces and tabs at either end, and the CR/LF at the end.
[[nodiscard]] constexpr std::string_view trim_blanks(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace medgw::base
