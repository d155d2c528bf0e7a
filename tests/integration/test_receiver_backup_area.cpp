// The central's backup area (receiver/backup_area): which names a gateway
// may use, write once (same bytes accepted, other bytes refused), the
// quota's count, and a gateway's run lease against retention - on real files.
#include <receiver/backup_area.hpp>

#include <backupstore/repository_lock.hpp>
#include <tests/support/test_support.hpp>

#include <base/bytes.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using namespace medgw;
using receiver::BackupArea;
using receiver::BackupName;
using receiver::backup_name_kind;

namespace {

constexpr const char* facility = "131234567";
const std::string uuid = "01930b2c-5a6e-7c3d-8e9f-0a1b2c3d4e5f";

BackupArea::Stored put(BackupArea& area, const std::string& name, const std::string& content) {
  auto file = area.receive(facility);
  file->write(base::as_bytes(content));
  return area.store(facility, name, *file);
}

}  // namespace

TEST_CASE("backup area: only the layout's names", "[receiver][backup]") {
  CHECK(backup_name_kind("config") == BackupName::config);
  CHECK(backup_name_kind("keys/" + uuid + ".0123456789abcdef.age") == BackupName::key);
  CHECK(backup_name_kind("packs/ab/ab" + std::string(30, '0')) == BackupName::pack);
  CHECK(backup_name_kind("snapshots/" + uuid + ".packs") == BackupName::pack_list);
  CHECK(backup_name_kind("snapshots/" + uuid + ".age") == BackupName::snapshot);
  CHECK(backup_name_kind("locks/run-0123456789abcdef") == BackupName::lease);
  for (const std::string& bad : std::vector<std::string>{"", "/config", "config/", "../config", "packs/ab/../../config",
                                "packs/ab/cd" + std::string(30, '0'), "packs/AB/AB" + std::string(30, '0'),
                                "packs/ab/ab" + std::string(29, '0'), "snapshots/" + uuid + ".tmp",
                                "snapshots/../" + uuid + ".age", "snapshots/x.age", "keys/" + uuid + ".age",
                                "locks/forget-0123456789abcdef", "locks/run-0123", "locks/run-../../x",
                                "tmp/new-0123", "packs/ab/ab" + std::string(30, '0') + "?x"}) {
    CAPTURE(bad);
    CHECK_FALSE(backup_name_kind(bad));
  }
}

TEST_CASE("backup area: write once, the same bytes again are fine, usage counts", "[receiver][backup]") {
  test::TempDir tmp;
  BackupArea area(tmp.path() / "backups", 1 << 20);
  CHECK(area.used(facility) == 0);
  const std::string pack = "packs/ab/ab" + std::string(30, '1');
  CHECK(put(area, pack, "first bytes") == BackupArea::Stored::created);
  CHECK(area.used(facility) == 11);
  CHECK(put(area, pack, "first bytes") == BackupArea::Stored::same);
  CHECK(put(area, pack, "other bytes") == BackupArea::Stored::conflict);
  std::ifstream in(tmp.path() / "backups" / facility / pack);
  std::string stored((std::istreambuf_iterator<char>(in)), {});
  CHECK(stored == "first bytes");
  CHECK(area.size_of(facility, pack) == 11u);
  CHECK_FALSE(area.size_of(facility, "packs/cd/cd" + std::string(30, '1')));
  CHECK(area.used(facility) == 11);
  // Nothing of the refused or repeated bodies stays behind.
  CHECK(std::filesystem::is_empty(tmp.path() / "backups" / facility / "tmp"));
  // A body cut off by a crash: removed at the next start.
  auto cut = area.receive(facility);
  cut->write(base::as_bytes(std::string("half")));
  const auto left = cut->path();
  std::filesystem::copy_file(left, left.parent_path() / "new-leftover");
  cut.reset();
  area.remove_temporaries();
  CHECK(std::filesystem::is_empty(tmp.path() / "backups" / facility / "tmp"));
  // Clear files read back (config, pack lists), never large ones.
  CHECK(put(area, "config", "medgw-backup-repository/1\n") == BackupArea::Stored::created);
  CHECK(area.read_clear(facility, "config") == std::string("medgw-backup-repository/1\n"));
}

TEST_CASE("backup area: two bodies racing for one name, one wins whole", "[receiver][backup]") {
  test::TempDir tmp;
  BackupArea area(tmp.path() / "backups", 1 << 30);
  for (int round = 0; round < 20; ++round) {
    const std::string pack = "packs/cd/cd" + std::string(28, '0') + std::to_string(10 + round);
    const std::string first(64 << 10, 'a');
    const std::string second(64 << 10, 'b');
    BackupArea::Stored a{};
    BackupArea::Stored b{};
    std::thread one([&] { a = put(area, pack, first); });
    std::thread two([&] { b = put(area, pack, second); });
    one.join();
    two.join();
    CHECK(((a == BackupArea::Stored::created && b == BackupArea::Stored::conflict) ||
           (b == BackupArea::Stored::created && a == BackupArea::Stored::conflict)));
    std::ifstream in(tmp.path() / "backups" / facility / pack);
    const std::string stored((std::istreambuf_iterator<char>(in)), {});
    CHECK((stored == (a == BackupArea::Stored::created ? first : second)));
  }
}

TEST_CASE("backup area: a run's lease and retention keep each other out", "[receiver][backup]") {
  test::TempDir tmp;
  BackupArea area(tmp.path() / "backups", 1 << 20);
  const std::string lease = "locks/run-00112233445566778899aabb";
  REQUIRE(area.hold_lease(facility, lease));
  CHECK(std::filesystem::exists(tmp.path() / "backups" / facility / lease));
  CHECK(area.hold_lease(facility, lease));  // renewed
  // Retention while the gateway's run holds its lease: refused.
  auto forget = backup::RepositoryLock::take(area.repository(facility), backup::RepositoryLock::Kind::forget);
  REQUIRE_FALSE(forget);
  CHECK(forget.error().code == "repository_busy");
  area.drop_lease(facility, lease);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "backups" / facility / lease));
  // Retention holds the repository: a new run's lease is refused until it ends.
  {
    auto held = backup::RepositoryLock::take(area.repository(facility), backup::RepositoryLock::Kind::forget);
    REQUIRE(held);
    CHECK_FALSE(area.hold_lease(facility, "locks/run-ffeeddccbbaa998877665544"));
  }
  CHECK(area.hold_lease(facility, "locks/run-ffeeddccbbaa998877665544"));
}
