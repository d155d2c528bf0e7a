#pragma once
// One realistic round of changes to an existing generated tree, for
// change-detection tests: new messages, updates (flag 1 -> 2 rename plus a
// new flag-1 file) and deletions (versions renamed to flag 0 plus a flag-0
// delete notice). Deterministic in the tree's content and the seed.
#include <cstdint>
#include <filesystem>

namespace medgw::sample {

struct MutationCounts {
  std::uint64_t added = 0;
  std::uint64_t updated = 0;
  std::uint64_t deleted = 0;
  std::uint64_t renamed_files = 0;
  std::uint64_t new_files = 0;
};

// `root` is a folder written by medgw-sample (holding ssmix2/std).
MutationCounts mutate_tree(const std::filesystem::path& root, std::uint64_t changes, std::uint64_t seed);

}  // namespace medgw::sample
