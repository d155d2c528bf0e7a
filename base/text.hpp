#pragma once
// Small text checks shared by the parsers (opt-out list, notice register,
// SS-MIX2 names, receipts, HTTP headers).
#include <charconv>
#include <string_view>
#include <vector>

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

// The fields between `separator`s (n separators: n + 1 fields, empty ones too).
[[nodiscard]] inline std::vector<std::string_view> split_fields(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

// The whole of `text` as a number in `base` (no sign, no blanks, not empty).
template <class T>
[[nodiscard]] bool parse_number(std::string_view text, T& value, int base = 10) noexcept {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

// Only 0-9 and a-f (empty is lower hex).
[[nodiscard]] constexpr bool all_lower_hex(std::string_view text) noexcept {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace medgw::base
