#pragma once
// Splitting text on one separator byte, as views into the text.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace medgw::claims {

// split_on into `parts` (cleared first), reusing its storage: for the lines
// of large files. Eight bytes at a time: a word's separator bytes are found
// at once (exactly: no carry crosses a byte), not one memchr per field.
inline void split_into(std::string_view text, char separator, std::vector<std::string_view>& parts) {
  parts.clear();
  constexpr std::uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
  const std::uint64_t pattern = 0x0101010101010101ULL * static_cast<unsigned char>(separator);
  const char* const begin = text.data();
  std::size_t start = 0;
  std::size_t at = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; at + 8 <= text.size(); at += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, begin + at, 8);
      word ^= pattern;  // separator bytes are now zero
      std::uint64_t zeros = ~(((word & low7) + low7) | word | low7);
      while (zeros != 0) {
        const std::size_t found = at + static_cast<std::size_t>(std::countr_zero(zeros)) / 8;
        parts.emplace_back(begin + start, found - start);
        start = found + 1;
        zeros &= zeros - 1;
      }
    }
  }
  for (; at < text.size(); ++at) {
    if (begin[at] != separator) continue;
    parts.emplace_back(begin + start, at - start);
    start = at + 1;
  }
  parts.emplace_back(begin + start, text.size() - start);
}

// "a|b||c" on '|' gives "a", "b", "", "c"; an empty text gives one empty part.
[[nodiscard]] inline std::vector<std::string_view> split_on(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  split_into(text, separator, parts);
  return parts;
}

}  // namespace medgw::claims
