#include <collectors/tree_walker.hpp>

#include <base/unique_fd.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

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

WalkCounters TreeWalker::walk(const std::filesystem::path& root, const Visit& visit, const Problem& problem) {
  counters_ = {};
  path_.clear();
  dents_buffer_.resize(64 << 10);
  base::UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + root.string());
  walk_directory(fd.get(), 0, visit, problem);
  return counters_;
}

void TreeWalker::walk_directory(int fd, std::size_t depth, const Visit& visit, const Problem& problem) {
  ++counters_.directories;
  Listing& list = listing(depth);
  list.names.clear();
  list.items.clear();
  while (true) {
    const long got = ::syscall(SYS_getdents64, fd, dents_buffer_.data(), dents_buffer_.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      ++counters_.unreadable;
      problem(WalkProblem::unreadable_directory, path_);
      return;
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

  const std::size_t base = path_.size();
  for (const Listing::Item& item : list.items) {
    path_.resize(base);
    if (base > 0) path_.push_back('/');
    path_.append(list.name(item));
    // The name must be NUL-terminated for the *at calls: it is the tail of path_.
    const char* name = path_.c_str() + (base > 0 ? base + 1 : 0);
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
  path_.resize(base);
}

}  // namespace medgw::collectors
