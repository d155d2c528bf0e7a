#pragma once
// Splitting text on one separator byte, as views into the text.
#include <string_view>
#include <vector>

namespace medgw::claims {

// "a|b||c" on '|' gives "a", "b", "", "c"; an empty text gives one empty part.
[[nodiscard]] inline std::vector<std::string_view> split_on(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace medgw::claims
