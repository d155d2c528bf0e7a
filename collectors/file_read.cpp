#include <collectors/file_read.hpp>

#include <collectors/background_work.hpp>

#include <spool/zstd_writer.hpp>

#include <base/unique_fd.hpp>

#include <crypto/hash.hpp>

#include <cerrno>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::collectors {
namespace {

int open_source_file(const SourceRoot& root, const std::string& relative) {
  const std::string full = root.fd >= 0 ? std::string() : root.path + "/" + relative;
  const int at = root.fd >= 0 ? root.fd : AT_FDCWD;
  const char* name = root.fd >= 0 ? relative.c_str() : full.c_str();
  int fd = ::openat(at, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(at, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  return fd;
}

// Reads `fd` to its end into `out`, straight into its storage (no copy
// through a buffer); false on a read error. `expected` sizes it, one byte
// more so that a file that grew shows itself without a second allocation.
bool read_all(int fd, std::string& out, std::size_t expected) {
  out.resize(expected + 1);
  std::size_t used = 0;
  while (true) {
    if (used == out.size()) out.resize(out.size() * 2);
    const ssize_t got = ::read(fd, out.data() + used, out.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      out.resize(used);
      return false;
    }
    if (got == 0) {
      out.resize(used);
      return true;
    }
    const bool short_read = static_cast<std::size_t>(got) < out.size() - used;
    used += static_cast<std::size_t>(got);
    // A regular file reads short only at its end: with all the bytes its
    // stat promised, no read is needed to see the end (a file that grows
    // meanwhile fails the stat check after the read).
    if (short_read && used >= expected) {
      out.resize(used);
      return true;
    }
  }
}

bool same_file(const FileStat& a, const FileStat& b) {
  return a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.inode == b.inode;
}


// Runs an opt-out filter over the pieces of a file, keeping (small files) or
// only hashing (large ones) what it makes of them.
class FilterRun {
 public:
  FilterRun(OptOutFilter& filter, bool keep, spool::ContentSpill* spill) : filter_(filter), keep_(keep), spill_(spill) {}
  void feed(std::string_view bytes) {
    filter_.feed(bytes, scratch_);
    take();
  }
  void finish(FileRead& read) {
    filter_.finish(scratch_);
    take();
    read.filtered = filter_.result();
    if (keep_) read.filtered->dropped_rows = nullptr;  // only a large file may be read again
    const auto digest = hash_.finish();
    read.filtered_sha256.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
    read.filtered_size = size_;
    read.filtered_content = std::move(kept_);
  }

 private:
  void take() {
    hash_.update(base::as_bytes(scratch_));
    size_ += scratch_.size();
    if (keep_) kept_.append(scratch_);
    if (spill_ != nullptr) spill_->write(scratch_);
    scratch_.clear();
  }
  OptOutFilter& filter_;
  bool keep_;
  spool::ContentSpill* spill_;
  std::string scratch_;
  std::string kept_;
  crypto::Sha256 hash_;
  std::uint64_t size_ = 0;
};

// Reads the open file `fd` (left open).
FileRead read_source_file(int fd, const FileStat& expected, bool large, ContentCheck* check, OptOutFilter* filter,
                          const std::filesystem::path* spill_folder) {
  FileRead read;
  // Large files are compressed as they are read (a spill that fails is
  // dropped: the builder then reads the file again and checks it against
  // this read's size and hash).
  spool::ContentSpill spill(large ? spill_folder : nullptr, spool::object_zstd_level);
  std::optional<FilterRun> filter_run;
  if (filter != nullptr) filter_run.emplace(*filter, !large, &spill);
  bool read_ok = true;
  int error = 0;
  crypto::Sha256 hash;
  if (large) {
    // Each block is hashed and checked on a second thread while this one
    // filters it (the worker is declared after the buffer: it ends first).
    std::vector<char> buffer(1 << 20);
    BackgroundWork background([&hash, check](std::string_view block) {
      hash.update(base::as_bytes(block));
      if (check != nullptr) check->update(block);
    });
    while (true) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        read_ok = got == 0;
        error = errno;
        break;
      }
      const std::string_view block(buffer.data(), static_cast<std::size_t>(got));
      background.start(block);
      if (filter_run) {
        filter_run->feed(block);
      } else {
        spill.write(block);
      }
      background.wait();
    }
  } else {
    read_ok = read_all(fd, read.content, expected.size);
    if (!read_ok) error = errno;
  }
  struct stat after_read {};
  const bool stat_ok = ::fstat(fd, &after_read) == 0;
  if (read_ok && !stat_ok) error = errno;
  if (!read_ok || !stat_ok) {
    read.status = FileRead::Status::unreadable;
    read.error = error;
    read.content.clear();
    return read;
  }
  if (!same_file(file_stat_of(after_read), expected) || (!large && read.content.size() != expected.size)) {
    read.status = FileRead::Status::changed;  // written to while we looked: not settled after all
    read.content.clear();
    return read;
  }
  if (!large) hash.update(base::as_bytes(read.content));
  const auto digest = hash.finish();
  read.sha256.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
  if (filter_run) {
    if (!large) filter_run->feed(read.content);
    filter_run->finish(read);
  }
  if (large) read.spilled = spill.finish();
  return read;
}

}  // namespace

FileRead read_and_analyze(const SourceProfile& profile, const SourceRoot& root, const ScanRow& row,
                          std::uint64_t in_memory_limit, const std::shared_ptr<const PatientPolicy>& policy,
                          const std::filesystem::path& spill_folder) {
  const base::UniqueFd fd(open_source_file(root, row.path));
  if (fd.get() < 0) {
    FileRead read;
    read.status = FileRead::Status::unreadable;
    read.error = errno;
    return read;
  }
  return read_and_analyze_open(profile, fd.get(), row, in_memory_limit, policy, spill_folder);
}

FileRead read_and_analyze_open(const SourceProfile& profile, int fd, const ScanRow& row, std::uint64_t in_memory_limit,
                               const std::shared_ptr<const PatientPolicy>& policy,
                               const std::filesystem::path& spill_folder) {
  const bool large = row.stat.size > in_memory_limit;
  std::unique_ptr<ContentCheck> check = large ? profile.stream_check(row.path) : nullptr;
  std::unique_ptr<OptOutFilter> filter = profile.optout_filter(row.path, policy);
  FileRead read = read_source_file(fd, row.stat, large, check.get(), filter.get(), &spill_folder);
  if (read.status == FileRead::Status::ok) {
    if (check) {
      read.analysis = check->finish();
    } else {
      read.analysis = large ? profile.analyze(row.path, std::nullopt) : profile.analyze(row.path, read.content);
    }
  }
  return read;
}

bool ReadAheadBudget::take(std::uint64_t bytes, bool large) {
  std::atomic<std::uint64_t>& left = large ? large_left_ : bytes_left_;
  const std::uint64_t amount = large ? 1 : bytes;
  std::uint64_t now = left.load(std::memory_order_relaxed);
  do {
    if (amount > now) return false;
  } while (!left.compare_exchange_weak(now, now - amount, std::memory_order_relaxed));
  return true;
}

void ReadAheadBudget::give_back(std::uint64_t bytes, bool large) {
  if (large) {
    large_left_.fetch_add(1, std::memory_order_relaxed);
  } else {
    bytes_left_.fetch_add(bytes, std::memory_order_relaxed);
  }
}

}  // namespace medgw::collectors
