#pragma once
// TreeWalker's listing of one folder (tree_walker.cpp reads it, the split
// walk in tree_walker_split.cpp plans with it). Internal to the walker.
#include <collectors/tree_walker.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>

namespace medgw::collectors {

struct TreeWalker::Listing {
  struct Item {
    std::uint32_t offset;
    std::uint32_t length;
    unsigned char type;  // DT_REG, DT_DIR, DT_LNK, ...
  };
  std::string names;
  std::vector<Item> items;

  // A folder with this many folders in it is walked split (walk_split).
  static constexpr std::ptrdiff_t split_min_folders = 16;

  [[nodiscard]] std::string_view name(const Item& item) const { return std::string_view(names).substr(item.offset, item.length); }

  [[nodiscard]] bool split_worthy() const {
    return std::count_if(items.begin(), items.end(), [](const Item& item) { return item.type == DT_DIR; }) >=
           split_min_folders;
  }

  // Order of the full paths: a directory sorts as if its name ended in '/'.
  [[nodiscard]] bool before(const Item& a, const Item& b) const {
    const std::string_view x = name(a);
    const std::string_view y = name(b);
    const std::size_t common = std::min(x.size(), y.size());
    if (const int c = std::memcmp(x.data(), y.data(), common); c != 0) return c < 0;
    auto next = [](std::string_view s, std::size_t at, bool directory) -> int {
      if (at < s.size()) return static_cast<unsigned char>(s[at]);
      if (at == s.size() && directory) return '/';
      return -1;
    };
    return next(x, common, a.type == DT_DIR) < next(y, common, b.type == DT_DIR);
  }
};

}  // namespace medgw::collectors
