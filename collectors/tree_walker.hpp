#pragma once
// Walks a source tree with openat/getdents64/fstatat, never following a
// symbolic link, and reports every regular file in the byte order of its full
// relative path ("a/b" after "a-c"): the order of the file index, so that a
// re-scan merge-joins the two in one pass. Names are kept in per-depth buffers
// that are reused, so a walk of millions of files allocates almost nothing.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <memory>
#include <string_view>
#include <vector>

#include <sys/stat.h>

namespace medgw::collectors {

struct FileStat {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  friend bool operator==(const FileStat&, const FileStat&) = default;
};

enum class WalkProblem {
  symlink_skipped,       // never followed (inside or out of the root)
  special_skipped,       // fifo, socket, device
  unreadable_directory,  // EACCES and the like: its subtree is not scanned
  unreadable_file,       // cannot stat
  vanished,              // gone between listing and looking (a writer at work)
};
[[nodiscard]] std::string_view walk_problem_name(WalkProblem problem);

struct WalkCounters {
  std::uint64_t files = 0;
  std::uint64_t directories = 0;
  std::uint64_t symlinks_skipped = 0;
  std::uint64_t special_skipped = 0;
  std::uint64_t unreadable = 0;
  std::uint64_t vanished = 0;
};

class TreeWalker {
 public:
  using Visit = std::function<void(std::string_view relative_path, const FileStat& stat)>;
  // The relative path names where the problem is; callers must not log it as
  // such (it names a patient), only a tag derived from it.
  using Problem = std::function<void(WalkProblem problem, std::string_view relative_path)>;

  TreeWalker();
  TreeWalker(const TreeWalker&) = delete;
  TreeWalker& operator=(const TreeWalker&) = delete;
  ~TreeWalker();

  // Throws std::system_error when the root itself cannot be opened.
  // `helpers` > 0: the folders of the first folder on each path that holds
  // many are walked on that many threads of their own, a few ahead of the
  // caller, each into a buffer that the caller reports from, in the same
  // order and on its own thread as without them; the buffers of folders
  // ahead hold at most `budget` bytes together.
  WalkCounters walk(const std::filesystem::path& root, const Visit& visit, const Problem& problem,
                    std::size_t helpers = 0, std::size_t budget = default_split_budget);

  // A second-level SS-MIX2 folder of a large hospital (~40,000 files) fits
  // whole, so a helper can walk the next one while the caller reports.
  static constexpr std::size_t default_split_budget = 8 << 20;

 private:
  struct Listing;
  void walk_directory(int fd, std::size_t depth, const Visit& visit, const Problem& problem);
  // The names of a folder, in walk order; false (and reported) when it
  // cannot be read.
  bool read_listing(int fd, Listing& list, const Problem& problem);
  // Reports one item of `list` (path_ holds its folder's path, `base` long).
  void visit_item(int fd, const Listing& list, std::size_t index, std::size_t base, std::size_t depth,
                  const Visit& visit, const Problem& problem);
  [[nodiscard]] Listing& listing(std::size_t depth);
  void walk_split(int fd, std::size_t depth, const Listing& list, const Visit& visit, const Problem& problem);
  class Subtree;  // tree_walker_split.cpp

  std::string path_;
  std::vector<std::unique_ptr<Listing>> listings_;
  std::vector<char> dents_buffer_;
  WalkCounters counters_;
  std::size_t split_helpers_ = 0;
  std::size_t split_budget_ = default_split_budget;
};

[[nodiscard]] FileStat file_stat_of(const struct stat& info);

}  // namespace medgw::collectors
