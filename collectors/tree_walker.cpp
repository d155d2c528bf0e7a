#include <collectors/tree_walker.hpp>
#include <collectors/tree_walker_listing.hpp>

#include <base/unique_fd.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
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
  open_ = nullptr;
  return run(
      root, [&visit](std::string_view path, const FileStat& stat, std::unique_ptr<FileWork>) { visit(path, stat); },
      problem, helpers, budget);
}

WalkCounters TreeWalker::walk_open(const std::filesystem::path& root, const Open& open, const VisitWork& visit,
                                   const Problem& problem, std::size_t helpers, std::size_t budget) {
  open_ = &open;
  return run(root, visit, problem, helpers, budget);
}

WalkCounters TreeWalker::run(const std::filesystem::path& root, const VisitWork& visit, const Problem& problem,
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

void TreeWalker::walk_directory(int fd, std::size_t depth, const VisitWork& visit, const Problem& problem) {
  ++counters_.directories;
  Listing& list = listing(depth);
  if (!read_listing(fd, list, problem)) return;
  walk_listed(fd, depth, list, visit, problem);
}

void TreeWalker::walk_listed(int fd, std::size_t depth, const Listing& list, const VisitWork& visit,
                             const Problem& problem) {
  const std::size_t base = path_.size();
  if (split_helpers_ > 0 && list.split_worthy()) {
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
                            const VisitWork& visit, const Problem& problem) {
  const Listing::Item& item = list.items[index];
  path_.resize(base);
  if (base > 0) path_.push_back('/');
  path_.append(list.name(item));
  // The name must be NUL-terminated for the *at calls: it is the tail of path_.
  const char* name = path_.c_str() + (base > 0 ? base + 1 : 0);
  {
    switch (item.type) {
      case DT_DIR: {
        const base::UniqueFd child = open_folder(fd, name, problem);
        if (child.get() >= 0) walk_directory(child.get(), depth + 1, visit, problem);
        break;
      }
      case DT_REG:
        visit_file(fd, name, visit, problem);
        break;
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

base::UniqueFd TreeWalker::open_folder(int fd, const char* name, const Problem& problem) {
  base::UniqueFd child(::openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (child.get() >= 0) return child;
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
  return child;
}

void TreeWalker::visit_file(int fd, const char* name, const VisitWork& visit, const Problem& problem) {
  base::UniqueFd file;
  if (open_ != nullptr) {
    // O_NONBLOCK: a file replaced by a fifo meanwhile must not hang the walk.
    constexpr int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    file = base::UniqueFd(::openat(fd, name, flags | O_NOATIME));
    if (file.get() < 0 && errno == EPERM) file = base::UniqueFd(::openat(fd, name, flags));  // not the owner
    if (file.get() < 0 && (errno == ENOENT || errno == ELOOP)) {
      const bool link = errno == ELOOP;  // replaced by a link meanwhile
      ++(link ? counters_.symlinks_skipped : counters_.vanished);
      problem(link ? WalkProblem::symlink_skipped : WalkProblem::vanished, path_);
      return;
    }
    // Otherwise (no permission, say) stat'ed as without open_.
  }
  struct stat info {};
  if (file.get() >= 0 ? ::fstat(file.get(), &info) != 0 : ::fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      ++counters_.vanished;
      problem(WalkProblem::vanished, path_);
    } else {
      ++counters_.unreadable;
      problem(WalkProblem::unreadable_file, path_);
    }
    return;
  }
  if (!S_ISREG(info.st_mode)) {
    ++counters_.special_skipped;
    problem(WalkProblem::special_skipped, path_);
    return;
  }
  ++counters_.files;
  const FileStat stat = file_stat_of(info);
  std::unique_ptr<FileWork> work = file.get() >= 0 ? (*open_)(file.get(), path_, stat) : nullptr;
  file = base::UniqueFd();
  visit(path_, stat, std::move(work));
}

}  // namespace medgw::collectors
