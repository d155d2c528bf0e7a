// Retention (daemon/backup/forget): which snapshots --keep-daily and
// --keep-monthly keep, and the repository lock that keeps a backup run and
// `backup forget` apart.
#include <backupstore/forget.hpp>
#include <backupstore/repository_lock.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace medgw;
using namespace medgw::backup;

namespace {

SnapshotSummary snapshot(std::string id, std::string created, std::string problem = {}) {
  SnapshotSummary summary;
  summary.id = std::move(id);
  summary.visible = true;
  summary.problem = std::move(problem);
  summary.list.created = std::move(created);
  return summary;
}

// Oldest first, as summarize() gives: two a day on Nov 29-30, one on Dec 1,
// one in October, one in September; an interrupted run last.
std::vector<SnapshotSummary> history() {
  std::vector<SnapshotSummary> all{
      snapshot("a-sep", "2026-09-10T02:00:00Z"),    snapshot("b-oct", "2026-10-03T02:00:00Z"),
      snapshot("c-nov29", "2026-11-29T02:00:00Z"),  snapshot("d-nov29", "2026-11-29T14:00:00Z"),
      snapshot("e-nov30", "2026-11-30T02:00:00Z"),  snapshot("f-nov30", "2026-11-30T14:00:00Z"),
      snapshot("g-dec01", "2026-12-01T02:00:00Z"),
  };
  SnapshotSummary interrupted = snapshot("h-interrupted", "2026-12-01T03:00:00Z");
  interrupted.visible = false;
  all.push_back(interrupted);
  return all;
}

}  // namespace

TEST_CASE("keep-daily keeps the newest snapshot of each of the last N days that have one", "[backup][retention]") {
  CHECK(snapshots_to_keep(history(), {1, 0}) == std::set<std::string>{"g-dec01"});
  CHECK(snapshots_to_keep(history(), {2, 0}) == std::set<std::string>{"g-dec01", "f-nov30"});
  CHECK(snapshots_to_keep(history(), {3, 0}) == std::set<std::string>{"g-dec01", "f-nov30", "d-nov29"});
  // Days without a snapshot do not count: the 4th kept day is in October.
  CHECK(snapshots_to_keep(history(), {4, 0}) == std::set<std::string>{"g-dec01", "f-nov30", "d-nov29", "b-oct"});
}

TEST_CASE("keep-monthly keeps the newest of each month, and the two rules add up", "[backup][retention]") {
  CHECK(snapshots_to_keep(history(), {0, 2}) == std::set<std::string>{"g-dec01", "f-nov30"});
  CHECK(snapshots_to_keep(history(), {0, 4}) == std::set<std::string>{"g-dec01", "f-nov30", "b-oct", "a-sep"});
  CHECK(snapshots_to_keep(history(), {2, 3}) == std::set<std::string>{"g-dec01", "f-nov30", "b-oct"});
}

TEST_CASE("a snapshot whose pack list has a problem is always kept", "[backup][retention]") {
  auto all = history();
  all[0].problem = "its pack list: bad signature";
  const auto keep = snapshots_to_keep(all, {1, 0});
  CHECK(keep == std::set<std::string>{"a-sep", "g-dec01"});
}

TEST_CASE("the repository lock keeps a backup run and retention apart", "[backup][retention]") {
  test::TempDir dir;
  const FolderRepository repository(dir.path());
  SECTION("a run keeps forget out, and forget keeps a run out") {
    {
      auto run = RepositoryLock::take(repository, RepositoryLock::Kind::run);
      REQUIRE(run);
      auto forget = RepositoryLock::take(repository, RepositoryLock::Kind::forget);
      REQUIRE_FALSE(forget);
      CHECK(forget.error().code == "repository_busy");
      CHECK_THAT(forget.error().message, Catch::Contains("a backup run is writing"));
    }
    // Released: the markers are gone, and forget may go.
    auto forget = RepositoryLock::take(repository, RepositoryLock::Kind::forget);
    REQUIRE(forget);
    auto run = RepositoryLock::take(repository, RepositoryLock::Kind::run);
    REQUIRE_FALSE(run);
    CHECK_THAT(run.error().message, Catch::Contains("retention"));
    auto other_forget = RepositoryLock::take(repository, RepositoryLock::Kind::forget);
    CHECK_FALSE(other_forget);
  }
  SECTION("a marker not renewed for the staleness is a dead process: ignored") {
    std::filesystem::create_directories(dir.path() / "locks");
    std::ofstream(dir.path() / "locks" / "run-dead") << "run host 1 2026-01-01T00:00:00Z\n";
    std::filesystem::last_write_time(dir.path() / "locks" / "run-dead",
                                     std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
    CHECK(RepositoryLock::take(repository, RepositoryLock::Kind::forget));
    CHECK_FALSE(RepositoryLock::take(repository, RepositoryLock::Kind::forget, std::chrono::hours(3)));
  }
  SECTION("a run removes the markers of its gateway's interrupted runs") {
    std::filesystem::create_directories(dir.path() / "locks");
    std::ofstream(dir.path() / "locks" / "run-killed") << "run host 1 2026-01-01T00:00:00Z\n";
    auto run = RepositoryLock::take(repository, RepositoryLock::Kind::run);
    REQUIRE(run);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "locks" / "run-killed"));
  }
}
