// The policy audit chain and the notice book on a real state.db: a version
// is recorded once per file content, changes name patients by tag only, the
// table refuses UPDATE and DELETE, and `verify` finds an edited, a removed or
// a relinked row. The notice book keeps each patient's first encounter.
#include <tests/integration/spool_fixture.hpp>

#include <collectors/notice.hpp>
#include <collectors/policy_audit.hpp>

#include <catch2/catch.hpp>

namespace medgw {
namespace {

collectors::AuditedEntries entries_of(std::initializer_list<std::pair<std::string, std::string>> rows) {
  collectors::AuditedEntries out;
  for (const auto& [id, date] : rows) out["key-" + id] = collectors::audit_entry_hash({id, date});
  return out;
}

}  // namespace

TEST_CASE("policy audit: one row per new content, a chain that shows an edited row") {
  test::SpoolFixture fixture;
  base::Database& db = fixture.db();
  using collectors::audit_notice_register;
  using collectors::audit_optout_list;
  CHECK(collectors::record_policy_version(db, audit_optout_list, "aa", entries_of({{"P1", ""}}), 1000) == 1);
  // The same file again: nothing new.
  CHECK_FALSE(collectors::record_policy_version(db, audit_optout_list, "aa", entries_of({{"P1", ""}}), 2000));
  CHECK(collectors::record_policy_version(db, audit_notice_register, "bb", entries_of({{"P2", "20260105"}}), 3000) == 2);
  CHECK(collectors::record_policy_version(db, audit_optout_list, "cc", entries_of({{"P1", "20260401"}, {"P3", ""}}),
                                          4000) == 3);
  CHECK(collectors::record_policy_version(db, audit_optout_list, "dd", entries_of({{"P3", ""}}), 5000) == 4);
  {
    base::Statement row = db.prepare("SELECT change FROM policy_audit WHERE seq = 3");
    REQUIRE(row.step());
    const std::string change = row.column_text(0);
    CHECK(change.find("\"entries\":2") != std::string::npos);
    CHECK(change.find("\"changed\":[\"pt:") != std::string::npos);  // P1's date changed
    CHECK(change.find("\"added\":[\"pt:") != std::string::npos);    // P3
    CHECK(change.find("P1") == std::string::npos);
  }
  {
    base::Statement row = db.prepare("SELECT change FROM policy_audit WHERE seq = 4");
    REQUIRE(row.step());
    CHECK(row.column_text(0).find("\"removed\":[\"pt:") != std::string::npos);
  }
  const collectors::AuditVerification good = collectors::verify_policy_audit(db);
  CHECK(good.ok());
  CHECK(good.rows == 4);
  CHECK(good.head.size() == 64);

  // Append-only: the table refuses changes.
  CHECK_THROWS_AS(db.exec("UPDATE policy_audit SET file_sha256 = 'ee' WHERE seq = 2"), base::SqliteError);
  CHECK_THROWS_AS(db.exec("DELETE FROM policy_audit WHERE seq = 4"), base::SqliteError);

  SECTION("an edited row") {
    db.exec("DROP TRIGGER policy_audit_append_only_update");
    db.exec("UPDATE policy_audit SET change = replace(change, '\"entries\":1', '\"entries\":0') WHERE seq = 2");
    const collectors::AuditVerification bad = collectors::verify_policy_audit(db);
    CHECK(bad.first_bad_seq == 2);
    CHECK(bad.problem.find("was changed") != std::string::npos);
  }
  SECTION("a removed row") {
    db.exec("DROP TRIGGER policy_audit_append_only_delete");
    db.exec("DELETE FROM policy_audit WHERE seq = 2");
    CHECK(collectors::verify_policy_audit(db).first_bad_seq == 3);
  }
  SECTION("a row rehashed but not its successor") {
    db.exec("DROP TRIGGER policy_audit_append_only_update");
    db.exec("UPDATE policy_audit SET hash = '" + std::string(64, 'f') + "' WHERE seq = 3");
    CHECK(collectors::verify_policy_audit(db).first_bad_seq == 3);
  }
}

TEST_CASE("notice book: first encounters survive in state.db, and only earlier ones replace them") {
  test::SpoolFixture fixture;
  const collectors::NoticeSettings settings{"20260101", 30, "20260331"};
  {
    collectors::NoticeBook book(settings, nullptr);
    (void)book.record({"P1", "20260210", "ssmix2 ADT-12"});
    (void)book.record({"P2", "20260301", "dpc 202603"});
    (void)book.record({"P3", "", "ssmix2 ADT-00"});  // known, no encounter since start
    book.save(fixture.db());
  }
  {
    collectors::NoticeBook book(settings, nullptr);
    book.load(fixture.db());
    CHECK(book.eligibility("P1").first_encounter == "20260210");
    CHECK(book.eligible("P1"));
    (void)book.record({"P2", "20260105", "ssmix2 OMP-01"});
    (void)book.record({"P3", "20260106", "ssmix2 ADT-12"});
    (void)book.record({"P1", "", "ssmix2 ADT-00"});  // never replaces a date
    book.save(fixture.db());
  }
  collectors::NoticeBook book(settings, nullptr);
  book.load(fixture.db());
  CHECK(book.eligibility("P2").first_encounter == "20260105");
  CHECK(book.eligibility("P2").encounter_where == "ssmix2 OMP-01");
  CHECK(book.patients().size() == 3);
  CHECK(book.eligibility("P3").first_encounter == "20260106");
  CHECK(book.eligibility("P1").first_encounter == "20260210");
}

}  // namespace medgw
