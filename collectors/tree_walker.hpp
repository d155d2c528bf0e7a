#pragma once
// Walks a source tree with openat/getdents64/fstatat, never following a
// symbolic link, and reports every regular file in the byte order of its full
// relative path ("a/b" after "a-c"): the order of the file index, so that a
// re-scan merge-joins the two in one pass. Names are kept in per-depth buffers
// that are reused, so a walk of millions of files allocates almost nothing.
#include <base/unique_fd.hpp>

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

// What a walk that opens its files (TreeWalker::walk_open) did with one while
// it held it open - a first collection reads it there - carried to the visit.
class FileWork {
 public:
  FileWork() = default;
  FileWork(const FileWork&) = delete;
  FileWork& operator=(const FileWork&) = delete;
  virtual ~FileWork() = default;
  // The memory it holds: counted against the split walk's budget.
  [[nodiscard]] virtual std::size_t bytes() const = 0;
};

class TreeWalker {
 public:
  using Visit = std::function<void(std::string_view relative_path, const FileStat& stat)>;
  // walk_open: the file is open (`fd`, read-only) on the walking thread,
  // which may be a helper; what it returns (or null) goes to the visit.
  using Open = std::function<std::unique_ptr<FileWork>(int fd, std::string_view relative_path, const FileStat& stat)>;
  using VisitWork =
      std::function<void(std::string_view relative_path, const FileStat& stat, std::unique_ptr<FileWork> work)>;
  // The relative path names where the problem is; callers must not log it as
  // such (it names a patient), only a tag derived from it.
  using Problem = std::function<void(WalkProblem problem, std::string_view relative_path)>;

  TreeWalker();
  TreeWalker(const TreeWalker&) = delete;
  TreeWalker& operator=(const TreeWalker&) = delete;
  ~TreeWalker();

  // Throws std::system_error when the root itself cannot be opened.
  // `helpers` > 0: the first folder on each path that holds many folders is
  // cut into units (its folders, or theirs where they hold many too: SS-MIX2's
  // patient folders) that that many threads of their own walk, a few ahead of
  // the caller, each into a buffer that the caller reports from, in the same
  // order and on its own thread as without them; the buffers of units ahead
  // hold at most `budget` bytes together, the one being reported a quarter of
  // that (tree_walker_split.cpp).
  WalkCounters walk(const std::filesystem::path& root, const Visit& visit, const Problem& problem,
                    std::size_t helpers = 0, std::size_t budget = default_split_budget);
  // The same walk, but each regular file is opened where its folder is held
  // open (openat + fstat instead of fstatat: the kernel looks up one name)
  // and `open` works on it there, on the walking thread. A file that cannot
  // be opened (no permission, say) but can be stat'ed is visited without
  // work, so that its reader meets and reports the problem as before.
  WalkCounters walk_open(const std::filesystem::path& root, const Open& open, const VisitWork& visit,
                         const Problem& problem, std::size_t helpers = 0, std::size_t budget = default_split_budget);

  // Room for thousands of files' events ahead of the caller, so both helpers
  // keep walking while it is busy.
  static constexpr std::size_t default_split_budget = 8 << 20;

 private:
  struct Listing;
  WalkCounters run(const std::filesystem::path& root, const VisitWork& visit, const Problem& problem,
                   std::size_t helpers, std::size_t budget);
  void walk_directory(int fd, std::size_t depth, const VisitWork& visit, const Problem& problem);
  // The rest of walk_directory, once the folder's listing is read.
  void walk_listed(int fd, std::size_t depth, const Listing& list, const VisitWork& visit, const Problem& problem);
  // A folder opened below `fd` (never through a link), or -1 and reported;
  // path_ names it.
  [[nodiscard]] base::UniqueFd open_folder(int fd, const char* name, const Problem& problem);
  // The names of a folder, in walk order; false (and reported) when it
  // cannot be read.
  bool read_listing(int fd, Listing& list, const Problem& problem);
  // Reports one item of `list` (path_ holds its folder's path, `base` long).
  void visit_item(int fd, const Listing& list, std::size_t index, std::size_t base, std::size_t depth,
                  const VisitWork& visit, const Problem& problem);
  // A regular file: stat'ed, or opened and worked on (open_).
  void visit_file(int fd, const char* name, const VisitWork& visit, const Problem& problem);
  [[nodiscard]] Listing& listing(std::size_t depth);
  void walk_split(int fd, std::size_t depth, const Listing& list, const VisitWork& visit, const Problem& problem);
  struct Unit;  // tree_walker_split.cpp
  class Split;

  std::string path_;
  std::vector<std::unique_ptr<Listing>> listings_;
  std::vector<char> dents_buffer_;
  WalkCounters counters_;
  std::size_t split_helpers_ = 0;
  std::size_t split_budget_ = default_split_budget;
  const Open* open_ = nullptr;  // walk_open's
};

[[nodiscard]] FileStat file_stat_of(const struct stat& info);

}  // namespace medgw::collectors
