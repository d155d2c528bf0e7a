#include <collectors/tree_walker.hpp>

#include <base/unique_fd.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <exception>
#include <iterator>
#include <mutex>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace medgw::collectors {
namespace {

// The fixed part of a getdents64 record; the NUL-terminated name follows it.
struct LinuxDirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
};
constexpr std::size_t dirent_name_offset = offsetof(LinuxDirent64, d_type) + 1;

// A folder with this many folders in it is walked split (walk_split).
constexpr std::ptrdiff_t split_min_folders = 16;

}  // namespace

struct TreeWalker::Listing {
  struct Item {
    std::uint32_t offset;
    std::uint32_t length;
    unsigned char type;  // DT_REG, DT_DIR, DT_LNK, ...
  };
  std::string names;
  std::vector<Item> items;

  [[nodiscard]] std::string_view name(const Item& item) const { return std::string_view(names).substr(item.offset, item.length); }

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

TreeWalker::TreeWalker() = default;
TreeWalker::~TreeWalker() = default;

std::string_view walk_problem_name(WalkProblem problem) {
  switch (problem) {
    case WalkProblem::symlink_skipped: return "symlink_skipped";
    case WalkProblem::special_skipped: return "special_file_skipped";
    case WalkProblem::unreadable_directory: return "unreadable_directory";
    case WalkProblem::unreadable_file: return "unreadable_file";
    case WalkProblem::vanished: return "vanished";
  }
  return "unknown";
}

FileStat file_stat_of(const struct stat& info) {
  FileStat stat;
  stat.size = static_cast<std::uint64_t>(info.st_size);
  stat.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  stat.ctime_ns = static_cast<std::int64_t>(info.st_ctim.tv_sec) * 1'000'000'000 + info.st_ctim.tv_nsec;
  stat.device = static_cast<std::uint64_t>(info.st_dev);
  stat.inode = static_cast<std::uint64_t>(info.st_ino);
  return stat;
}

TreeWalker::Listing& TreeWalker::listing(std::size_t depth) {
  while (listings_.size() <= depth) listings_.push_back(std::make_unique<Listing>());
  return *listings_[depth];
}

WalkCounters TreeWalker::walk(const std::filesystem::path& root, const Visit& visit, const Problem& problem,
                              std::size_t helpers, std::size_t budget) {
  counters_ = {};
  path_.clear();
  dents_buffer_.resize(64 << 10);
  base::UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + root.string());
  split_helpers_ = helpers;
  split_budget_ = budget;
  walk_directory(fd.get(), 0, visit, problem);
  return counters_;
}

void TreeWalker::walk_directory(int fd, std::size_t depth, const Visit& visit, const Problem& problem) {
  ++counters_.directories;
  Listing& list = listing(depth);
  if (!read_listing(fd, list, problem)) return;
  const std::size_t base = path_.size();
  if (split_helpers_ > 0 &&
      std::count_if(list.items.begin(), list.items.end(), [](const Listing::Item& item) { return item.type == DT_DIR; }) >=
          split_min_folders) {
    walk_split(fd, depth, list, visit, problem);
  } else {
    for (std::size_t index = 0; index < list.items.size(); ++index) visit_item(fd, list, index, base, depth, visit, problem);
  }
  path_.resize(base);
}

bool TreeWalker::read_listing(int fd, Listing& list, const Problem& problem) {
  list.names.clear();
  list.items.clear();
  while (true) {
    const long got = ::syscall(SYS_getdents64, fd, dents_buffer_.data(), dents_buffer_.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      ++counters_.unreadable;
      problem(WalkProblem::unreadable_directory, path_);
      return false;
    }
    if (got == 0) break;
    for (long at = 0; at < got;) {
      const char* record = dents_buffer_.data() + at;
      const auto* entry = reinterpret_cast<const LinuxDirent64*>(record);
      at += entry->d_reclen;
      const char* entry_name = record + dirent_name_offset;
      const std::string_view name(entry_name);
      if (name == "." || name == "..") continue;
      unsigned char type = entry->d_type;
      if (type == DT_UNKNOWN) {
        // Some filesystems (and some NFS servers) do not say; ask.
        struct stat info {};
        if (::fstatat(fd, entry_name, &info, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
        type = S_ISDIR(info.st_mode) ? DT_DIR : S_ISREG(info.st_mode) ? DT_REG : S_ISLNK(info.st_mode) ? DT_LNK : DT_FIFO;
      }
      list.items.push_back({static_cast<std::uint32_t>(list.names.size()), static_cast<std::uint32_t>(name.size()), type});
      list.names.append(name);
    }
  }
  std::sort(list.items.begin(), list.items.end(),
            [&list](const Listing::Item& a, const Listing::Item& b) { return list.before(a, b); });
  return true;
}

void TreeWalker::visit_item(int fd, const Listing& list, std::size_t index, std::size_t base, std::size_t depth,
                            const Visit& visit, const Problem& problem) {
  const Listing::Item& item = list.items[index];
  path_.resize(base);
  if (base > 0) path_.push_back('/');
  path_.append(list.name(item));
  // The name must be NUL-terminated for the *at calls: it is the tail of path_.
  const char* name = path_.c_str() + (base > 0 ? base + 1 : 0);
  {
    switch (item.type) {
      case DT_DIR: {
        base::UniqueFd child(::openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (child.get() < 0) {
          if (errno == ENOENT) {
            ++counters_.vanished;
            problem(WalkProblem::vanished, path_);
          } else if (errno == ELOOP || errno == ENOTDIR) {
            ++counters_.symlinks_skipped;  // replaced by a link meanwhile
            problem(WalkProblem::symlink_skipped, path_);
          } else {
            ++counters_.unreadable;
            problem(WalkProblem::unreadable_directory, path_);
          }
          break;
        }
        walk_directory(child.get(), depth + 1, visit, problem);
        break;
      }
      case DT_REG: {
        struct stat info {};
        if (::fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) {
            ++counters_.vanished;
            problem(WalkProblem::vanished, path_);
          } else {
            ++counters_.unreadable;
            problem(WalkProblem::unreadable_file, path_);
          }
          break;
        }
        if (!S_ISREG(info.st_mode)) {
          ++counters_.special_skipped;
          problem(WalkProblem::special_skipped, path_);
          break;
        }
        ++counters_.files;
        visit(path_, file_stat_of(info));
        break;
      }
      case DT_LNK:
        ++counters_.symlinks_skipped;
        problem(WalkProblem::symlink_skipped, path_);
        break;
      default:
        ++counters_.special_skipped;
        problem(WalkProblem::special_skipped, path_);
        break;
    }
  }
}

// ---- the split walk ---------------------------------------------------------
//
// A folder with at least split_min_folders folders in it is walked by
// helpers (the first such on each path: SS-MIX2's storage may hold a single
// `000` under its root, and helpers walk sequentially themselves). Helpers
// take its folders in order, at most `window` items ahead of the one the
// caller reports, and walk each with a TreeWalker of their own into its
// Subtree buffer. The caller reports the root's items in order: a file at
// once, a folder from its buffer, in batches, as the helper fills it. The
// buffers of the folders ahead of the one being reported hold at most
// split_budget_ bytes together (their helpers wait), so memory stays bounded
// whatever the tree's shape; a folder of tens of thousands of files (a
// second-level SS-MIX2 folder of a large hospital) still fits whole, so both
// helpers keep walking.

namespace {

// One file or problem; its path is in the buffer's `paths`.
struct WalkEvent {
  std::uint32_t path_offset = 0;
  std::uint32_t path_length = 0;
  bool is_file = true;
  WalkProblem problem = WalkProblem::vanished;
  FileStat stat;
};

// Events with their paths in one string: no allocation per event.
struct EventBuffer {
  std::vector<WalkEvent> events;
  std::string paths;

  void add(bool is_file, WalkProblem problem, std::string_view path, const FileStat& stat) {
    events.push_back(WalkEvent{static_cast<std::uint32_t>(paths.size()), static_cast<std::uint32_t>(path.size()),
                               is_file, problem, stat});
    paths.append(path);
  }
  [[nodiscard]] std::string_view path(const WalkEvent& event) const {
    return std::string_view(paths).substr(event.path_offset, event.path_length);
  }
  [[nodiscard]] std::size_t bytes() const { return events.size() * sizeof(WalkEvent) + paths.size(); }
};

struct SplitCancelled {};

constexpr std::size_t split_window_per_helper = 4;
constexpr std::size_t event_batch = 256;

}  // namespace

class TreeWalker::Subtree {
 public:
  std::vector<EventBuffer> batches;  // handed over whole: nothing is copied or regrown
  bool done = false;
  WalkCounters counters;
  std::exception_ptr error;
};

namespace {

void add_counters(WalkCounters& into, const WalkCounters& more) {
  into.files += more.files;
  into.directories += more.directories;
  into.symlinks_skipped += more.symlinks_skipped;
  into.special_skipped += more.special_skipped;
  into.unreadable += more.unreadable;
  into.vanished += more.vanished;
}

// Stops and joins the helpers however the caller leaves (its callbacks may
// throw).
struct StopHelpers {
  std::vector<std::thread>& threads;
  std::mutex& mutex;
  std::condition_variable& changed;
  bool& cancelled;
  ~StopHelpers() {
    {
      std::lock_guard lock(mutex);
      cancelled = true;
    }
    changed.notify_all();
    for (std::thread& thread : threads) thread.join();
  }
};

void report(const std::vector<EventBuffer>& batches, const TreeWalker::Visit& visit, const TreeWalker::Problem& problem) {
  for (const EventBuffer& batch : batches) {
    for (const WalkEvent& event : batch.events) {
      if (event.is_file) {
        visit(batch.path(event), event.stat);
      } else {
        problem(event.problem, batch.path(event));
      }
    }
  }
}

}  // namespace

void TreeWalker::walk_split(int fd, std::size_t depth, const Listing& list, const Visit& visit, const Problem& problem) {
  const std::size_t helpers = split_helpers_;
  const std::size_t budget = split_budget_;
  const std::string prefix = path_;  // the folder's path
  const std::size_t base = path_.size();
  std::vector<std::size_t> folders;  // its items that are folders
  for (std::size_t index = 0; index < list.items.size(); ++index) {
    if (list.items[index].type == DT_DIR) folders.push_back(index);
  }

  std::vector<Subtree> subtrees(folders.size());
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t head = 0;  // the root item being reported
  std::size_t buffered = 0;  // bytes in all subtrees' buffers
  bool cancelled = false;
  std::atomic<std::size_t> next{0};
  const std::size_t window = helpers * split_window_per_helper;

  auto help = [&] {
    TreeWalker walker;
    walker.dents_buffer_.resize(64 << 10);
    while (true) {
      const std::size_t task = next.fetch_add(1);
      if (task >= folders.size()) return;
      const std::size_t order = folders[task];
      Subtree& subtree = subtrees[task];
      EventBuffer batch;
      auto hand_over = [&] {
        std::unique_lock lock(mutex);
        // The folder being reported always flows; the others wait for room.
        changed.wait(lock, [&] { return cancelled || head == order || buffered + batch.bytes() <= budget; });
        if (cancelled) throw SplitCancelled{};
        buffered += batch.bytes();
        subtree.batches.push_back(std::move(batch));
        batch = EventBuffer();
        changed.notify_all();
      };
      try {
        {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return cancelled || order < head + window; });
          if (cancelled) return;
        }
        walker.counters_ = {};
        walker.path_ = prefix;
        walker.visit_item(
            fd, list, order, base, depth,
            [&](std::string_view path, const FileStat& stat) {
              batch.add(true, WalkProblem::vanished, path, stat);
              if (batch.events.size() >= event_batch) hand_over();
            },
            [&](WalkProblem kind, std::string_view path) {
              batch.add(false, kind, path, {});
              if (batch.events.size() >= event_batch) hand_over();
            });
        if (!batch.events.empty()) hand_over();
        std::lock_guard lock(mutex);
        subtree.counters = walker.counters_;
        subtree.done = true;
        changed.notify_all();
      } catch (const SplitCancelled&) {
        return;
      } catch (...) {
        std::lock_guard lock(mutex);
        subtree.error = std::current_exception();
        subtree.done = true;
        changed.notify_all();
      }
    }
  };
  std::vector<std::thread> threads;
  // However the caller leaves (its callbacks may throw), the helpers stop.
  const StopHelpers stop{threads, mutex, changed, cancelled};
  for (std::size_t i = 0; i < std::min(helpers, folders.size()); ++i) threads.emplace_back(help);

  std::size_t task = 0;
  std::vector<EventBuffer> taken;
  for (std::size_t index = 0; index < list.items.size(); ++index) {
    {
      std::lock_guard lock(mutex);
      head = index;
    }
    changed.notify_all();
    if (list.items[index].type != DT_DIR) {
      visit_item(fd, list, index, base, depth, visit, problem);
      continue;
    }
    Subtree& subtree = subtrees[task++];
    bool finished = false;
    while (!finished) {
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return !subtree.batches.empty() || subtree.done; });
        std::swap(taken, subtree.batches);
        for (const EventBuffer& batch : taken) buffered -= batch.bytes();
        finished = subtree.done;
      }
      changed.notify_all();
      report(taken, visit, problem);
      taken.clear();
    }
    if (subtree.error) std::rethrow_exception(subtree.error);
    add_counters(counters_, subtree.counters);
  }
}

}  // namespace medgw::collectors
