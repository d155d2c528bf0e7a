#pragma once
// Splitting text on one separator byte, as views into the text.
#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace medgw::claims {

// split_on into `parts` (cleared first), reusing its storage: for the lines
// of large files. With SSE2, 16 bytes at a time: a block's separators are
// found at once, not one memchr per field.
inline void split_into(std::string_view text, char separator, std::vector<std::string_view>& parts) {
  parts.clear();
  const char* const begin = text.data();
  std::size_t start = 0;
  std::size_t at = 0;
#if defined(__SSE2__)
  const __m128i pattern = _mm_set1_epi8(separator);
  for (; at + 16 <= text.size(); at += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(begin + at));
    auto found_bits = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, pattern)));
    while (found_bits != 0) {
      const std::size_t found = at + static_cast<std::size_t>(std::countr_zero(found_bits));
      parts.emplace_back(begin + start, found - start);
      start = found + 1;
      found_bits &= found_bits - 1;
    }
  }
#endif
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
