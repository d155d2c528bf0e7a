// Invariant 3: when the disk is full the spool refuses or fails cleanly -
// nothing half-written, the queue consistent - and continues once space
// returns.
//
// On a small tmpfs mounted for the test:
//  - the admission check refuses a build that would cross spool.min_free;
//  - a real ENOSPC in the middle of a build (another writer fills the disk
//    the moment the build's temporary file appears) fails that build cleanly.
// Where mounting is not allowed (no CAP_SYS_ADMIN) the ENOSPC case runs in a
// child process whose RLIMIT_FSIZE makes large writes fail (EFBIG) instead,
// and the test says so.
#include <tests/integration/spool_fixture.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <random>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace medgw;
using namespace medgw::spool;

namespace {

std::string incompressible(std::size_t size, unsigned seed) {
  std::mt19937_64 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random() & 0xFF);
  return out;
}

std::vector<std::string> spool_listing(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& item : std::filesystem::directory_iterator(dir)) out.push_back(item.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t free_bytes(const std::filesystem::path& path) {
  struct statvfs info {};
  ::statvfs(path.c_str(), &info);
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

// Another writer: the moment a build's temporary file appears in the spool
// (inotify), it takes all the free space at once (fallocate).
class DiskFiller {
 public:
  DiskFiller(const std::filesystem::path& spool_dir, std::filesystem::path filler)
      : filler_(std::move(filler)), inotify_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    REQUIRE(inotify_ >= 0);
    REQUIRE(::inotify_add_watch(inotify_, spool_dir.c_str(), IN_CREATE) >= 0);
    thread_ = std::thread([this] { run(); });
  }
  ~DiskFiller() {
    finish();
    ::close(inotify_);
  }
  // Stops watching; true when the disk was filled.
  bool finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return filled_;
  }

 private:
  void run() {
    alignas(struct inotify_event) char buffer[4096];
    while (!stop_) {
      struct pollfd ready {inotify_, POLLIN, 0};
      if (::poll(&ready, 1, 10) <= 0) continue;
      const ssize_t got = ::read(inotify_, buffer, sizeof buffer);
      for (ssize_t at = 0; at < got;) {
        const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + at);
        if (event->len > 0 && std::string_view(event->name).find(".tmp-") != std::string_view::npos) {
          const int fd = ::open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
          // Nearly all the space: the build keeps writing meanwhile, and a
          // fallocate that asks too much fails and gives everything back, so
          // retry with more slack until the space is really taken.
          for (std::uint64_t slack = 256 << 10; slack < (8 << 20); slack *= 2) {
            const auto space = free_bytes(filler_.parent_path());
            if (space > slack && ::fallocate(fd, 0, 0, static_cast<off_t>(space - slack)) == 0) break;
          }
          ::close(fd);
          filled_ = true;
          return;
        }
        at += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
      }
    }
  }
  std::filesystem::path filler_;
  int inotify_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> filled_{false};
  std::thread thread_;
};

void check_unchanged(test::SpoolFixture& fixture, const std::vector<std::string>& before, std::int64_t objects) {
  CHECK(spool_listing(fixture.spool_dir()) == before);
  CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == objects);
  CHECK(fixture.db().query_int64("SELECT next_seq FROM gateway") == objects + 1);
  CHECK(fixture.spool().recover().objects_lost == 0);
}

}  // namespace

TEST_CASE("disk full: builds are refused or fail cleanly, and the spool continues afterwards", "[spool][diskfull]") {
  test::TempDir work;
  const auto source = work / "source";
  test::write_file(source, incompressible(6'000'000, 2));
  const auto small = work / "small";
  test::write_file(small, incompressible(20'000, 1));

  const auto mount_point = work / "fs";
  std::filesystem::create_directories(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=24m,mode=0700") != 0) {
    WARN("cannot mount a tmpfs here (" << std::strerror(errno) << "): injecting the failure with RLIMIT_FSIZE");
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG
      struct rlimit limit {3'000'000, 3'000'000};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      test::SpoolFixture fixture;
      bool ok = fixture.spool().build(std::vector{test::entry_for(small, "s", "1")}).committed();
      const auto before = spool_listing(fixture.spool_dir());
      ok = ok && fixture.spool().build(std::vector{test::entry_for(source, "s", "big")}).status == BuildStatus::disk_full;
      ok = ok && spool_listing(fixture.spool_dir()) == before &&
           fixture.db().query_int64("SELECT next_seq FROM gateway") == 2;
      ok = ok && fixture.spool().build(std::vector{test::entry_for(small, "s", "2")}).committed();
      ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    return;
  }
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};

  // The fixture's state lives on the tmpfs.
  test::SpoolFixture fixture({1ULL << 40, 4'000'000});
  fixture.close();
  std::filesystem::remove_all(fixture.dir / "state");
  std::filesystem::create_directory_symlink(mount_point, fixture.dir / "state");
  fixture.open();
  REQUIRE(fixture.spool().build(std::vector{test::entry_for(small, "s", "1")}).committed());

  SECTION("refused before anything is written when it would cross spool.min_free") {
    const auto ballast = mount_point / "ballast";
    test::write_file(ballast, incompressible(free_bytes(mount_point) - 6'000'000, 3));
    const auto before = spool_listing(fixture.spool_dir());
    const BuildOutcome refused = fixture.spool().build(std::vector{test::entry_for(source, "s", "big")});
    CHECK(refused.status == BuildStatus::disk_low);
    check_unchanged(fixture, before, 1);
    CHECK(fixture.spool().stats().capacity == Capacity::ok);  // 6 MB free >= min_free 4 MB: only the big build is refused
    std::filesystem::remove(ballast);
    const BuildOutcome after = fixture.spool().build(std::vector{test::entry_for(source, "s", "big")});
    CHECK(after.committed());
    CHECK(after.object->seq == 2);
  }
  SECTION("a real ENOSPC during the build") {
    const auto filler = mount_point / "filler";
    std::int64_t objects = 1;
    BuildOutcome outcome;
    std::vector<std::string> before;
    // The other writer usually wins the race for space; when the build is
    // quicker it simply commits (correct too), and we try again.
    for (int attempt = 0; attempt < 10; ++attempt) {
      before = spool_listing(fixture.spool_dir());
      DiskFiller other_writer(fixture.spool_dir(), filler);
      outcome = fixture.spool().build(std::vector{test::entry_for(source, "s", "big")});
      REQUIRE(other_writer.finish());
      if (!outcome.committed()) break;
      ++objects;
      std::filesystem::remove(filler);
      fixture.spool().mark_delivered(outcome.object->object_id, "");  // make room again
      --objects;
      before = spool_listing(fixture.spool_dir());
    }
    INFO(build_status_name(outcome.status) << ": " << outcome.message);
    CHECK(outcome.status == BuildStatus::disk_full);
    CHECK(free_bytes(mount_point) < 9'000'000);  // less than the object needs
    const auto next_seq = fixture.db().query_int64("SELECT next_seq FROM gateway").value();
    CHECK(spool_listing(fixture.spool_dir()) == before);
    CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == objects);
    CHECK(fixture.spool().recover().objects_lost == 0);
    std::filesystem::remove(filler);  // space returns
    const BuildOutcome after = fixture.spool().build(std::vector{test::entry_for(source, "s", "big")});
    CHECK(after.committed());
    CHECK(after.object->seq == static_cast<std::uint64_t>(next_seq));  // no seq was consumed by the failure
  }
  fixture.close();
}
