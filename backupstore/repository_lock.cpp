#include <backupstore/repository_lock.hpp>

#include <base/hex.hpp>
#include <base/time_format.hpp>

#include <crypto/random.hpp>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::backup {
namespace {

std::string_view kind_name(RepositoryLock::Kind kind) { return kind == RepositoryLock::Kind::run ? "run" : "forget"; }

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

// Does a marker of kind `other` keep a taker of kind `mine` out?
bool conflicts(RepositoryLock::Kind mine, std::string_view other) {
  if (other == "forget") return true;  // retention excludes everything, and another retention
  return other == "run" && mine == RepositoryLock::Kind::forget;
}

}  // namespace

base::Result<RepositoryLock> RepositoryLock::take(const FolderRepository& repository, Kind kind,
                                                  std::chrono::seconds stale_after, std::string_view suffix) {
  const std::filesystem::path folder = repository.root() / "locks";
  const auto failure = [](const std::string& what) {
    return base::fail(repository_error(std::system_error(errno, std::generic_category(), what), "its lock"));
  };
  if (::mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) return failure("cannot create " + folder.string());
  std::vector<std::uint8_t> random(8);
  crypto::random_bytes(random);
  const std::string own = std::string(kind_name(kind)) + "-" + (suffix.empty() ? base::to_hex(random) : std::string(suffix));
  const std::filesystem::path marker = folder / own;
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return failure("cannot create " + marker.string());
  const std::string text = std::string(kind_name(kind)) + " " + host_name() + " " + std::to_string(::getpid()) + " " +
                           base::rfc3339_utc(std::chrono::system_clock::now()) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  const int write_errno = errno;
  ::close(fd);
  RepositoryLock lock(marker);
  if (!written) {
    errno = write_errno == 0 ? EIO : write_errno;
    return failure("cannot write " + marker.string());
  }

  const auto now = std::filesystem::file_time_type::clock::now();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == own) continue;
    const auto dash = name.find('-');
    if (dash == std::string::npos) continue;
    const std::string other = name.substr(0, dash);
    std::error_code time_error;
    const auto modified = std::filesystem::last_write_time(entry.path(), time_error);
    if (time_error) continue;  // gone meanwhile
    const bool stale = now - modified > stale_after;
    if (kind == Kind::run && other == "run") {
      // An interrupted run of this gateway (its local lock is held by us).
      std::filesystem::remove(entry.path(), time_error);
      continue;
    }
    if (stale || !conflicts(kind, other)) continue;
    const auto age = std::chrono::duration_cast<std::chrono::minutes>(now - modified).count();
    return base::fail("repository_busy",
                      std::string(other == "run" ? "a backup run is writing to the repository"
                                                 : "retention (backup forget) is running on the repository") +
                          " (" + entry.path().string() + ", renewed " + std::to_string(age) +
                          " min ago); try again when it has finished (a marker not renewed for " +
                          std::to_string(stale_after.count() / 60) + " min is ignored)");
  }
  return lock;
}

RepositoryLock::RepositoryLock(RepositoryLock&& other) noexcept
    : marker_(std::exchange(other.marker_, {})), refreshed_(other.refreshed_) {}

RepositoryLock& RepositoryLock::operator=(RepositoryLock&& other) noexcept {
  if (this != &other) {
    if (!marker_.empty()) ::unlink(marker_.c_str());
    marker_ = std::exchange(other.marker_, {});
    refreshed_ = other.refreshed_;
  }
  return *this;
}

RepositoryLock::~RepositoryLock() {
  if (!marker_.empty()) ::unlink(marker_.c_str());
}

void RepositoryLock::refresh() {
  const auto now = std::chrono::steady_clock::now();
  if (marker_.empty() || now - refreshed_ < std::chrono::minutes(1)) return;
  refreshed_ = now;
  ::utimensat(AT_FDCWD, marker_.c_str(), nullptr, 0);
}

namespace {

class FolderLease final : public RunLease {
 public:
  explicit FolderLease(RepositoryLock lock) : lock_(std::move(lock)) {}
  void refresh() override { lock_.refresh(); }

 private:
  RepositoryLock lock_;
};

}  // namespace

base::Result<std::unique_ptr<RunLease>> FolderRepository::lease_for_run() const {
  auto lock = RepositoryLock::take(*this, RepositoryLock::Kind::run);
  if (!lock) return base::fail(lock.error());
  return std::unique_ptr<RunLease>(std::make_unique<FolderLease>(std::move(*lock)));
}

}  // namespace medgw::backup
