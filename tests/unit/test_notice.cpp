// The notice period (issue 19): the register's parsing (every error names
// its line, never a value), the eligibility rules, and the DPC/UKE filters
// leaving out the rows and receipts of patients not yet eligible (a filtered
// receipt file still passes the integrity rules).
#include <collectors/notice.hpp>
#include <collectors/optout_filter.hpp>
#include <collectors/ssmix2_profile.hpp>
#include <claims/text_split.hpp>
#include <collectors/uke_validator.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <set>

namespace medgw::collectors {
using namespace medgw::claims;
namespace {

std::string register_error(std::string_view csv, const NoticeRegister::KnownPatient& known = {}) {
  try {
    (void)NoticeRegister::parse(csv, known, "20260331");
  } catch (const NoticeRegisterError& error) {
    return "line " + std::to_string(error.line()) + " | " + error.what();
  }
  return "parsed";
}

std::shared_ptr<NoticeBook> book(std::string_view csv = "patient_id,notified_on\n") {
  return std::make_shared<NoticeBook>(NoticeSettings{"20260101", 30, "20260331"},
                                      std::make_shared<const NoticeRegister>(NoticeRegister::parse(csv)));
}

std::string run(OptOutFilter& filter, std::string_view input) {
  std::string out;
  for (std::size_t at = 0; at < input.size(); at += 7) filter.feed(input.substr(at, 7), out);
  filter.finish(out);
  return out;
}

}  // namespace

TEST_CASE("notice register: a good file in any column order, UTF-8 with BOM or CP932") {
  const NoticeRegister list = NoticeRegister::parse(
      "\xEF\xBB\xBFnotified_on,patient_id\r\n# mailed on the 5th\r\n2026-01-05,P1\r\n20260110,\"P2\"\r\n\r\n");
  REQUIRE(list.size() == 2);
  CHECK(list.by_patient("P1")->notified_on == "20260105");
  CHECK(list.by_patient("P1")->line == 3);
  CHECK(list.by_patient("P2")->notified_on == "20260110");
  CHECK(list.by_patient("P3") == nullptr);
}

TEST_CASE("notice register: bad input is named by its line, never by its value") {
  CHECK(register_error("patient_id,notified_on\nP1,2026-02-30\n") ==
        "line 2 | line 2: notified_on must be a calendar date YYYY-MM-DD");
  CHECK(register_error("patient_id,notified_on\nP1,yesterday\n").starts_with("line 2 |"));
  CHECK(register_error("patient_id,notified_on\nP1,2026-01-05\nP2,2026-01-06\nP1,2026-01-07\n") ==
        "line 4 | line 4: the patient is already listed on line 2; keep one line per patient");
  const auto known = [](std::string_view id) { return id != "P404"; };
  const std::string unknown = register_error("patient_id,notified_on\nP1,2026-01-05\nP404,2026-01-05\n", known);
  CHECK(unknown.starts_with("line 3 | line 3: unknown patient_id"));
  CHECK(unknown.find("P404") == std::string::npos);
  CHECK(register_error("patient_id,notified_on\nP1,2026-04-01\n").find("in the future") != std::string::npos);
  CHECK(register_error("patient_id\nP1\n") == "line 1 | line 1: the first line must be the header patient_id,notified_on");
  CHECK(register_error("id,notified_on\n").starts_with("line 1 | line 1: unknown column 'id'"));
  CHECK(register_error("patient_id,notified_on\nP 1,2026-01-05\n").starts_with("line 2 |"));
  CHECK(register_error("patient_id,notified_on\nP1,2026-01-05,x\n").starts_with("line 2 |"));
  CHECK(register_error("") == "line 1 | line 1: the header patient_id,notified_on is missing");
  CHECK(register_error("patient_id,notified_on\nP1,2026-01-05\n", known) == "parsed");
}

TEST_CASE("calendar dates: days, month ends, leap years") {
  CHECK(add_days("20260101", 30) == "20260131");
  CHECK(add_days("20260215", 30) == "20260317");
  CHECK(add_days("20240215", 30) == "20240316");  // 2024-02 has 29 days
  CHECK(month_end("202602") == "20260228");
  CHECK(month_end("202402") == "20240229");
  CHECK(month_end("202613").empty());
  CHECK(parse_calendar_date("2026/03/01") == "20260301");
  CHECK(parse_calendar_date("20260229").empty());
}

TEST_CASE("eligibility: first encounter on or after start, or the register, plus the wait") {
  auto notice = book("patient_id,notified_on\nMAILED,2026-01-20\nLATE,2026-03-20\n");
  // Nothing seen: held, with no date to give.
  CHECK_FALSE(notice->eligible("A"));
  CHECK(notice->eligibility("A").eligible_on.empty());
  // An encounter before the notice began does not count (the patient is known, with no date).
  CHECK_FALSE(notice->record({"A", "20251220", "ssmix2 ADT-12"}));
  CHECK(notice->eligibility("A").eligible_on.empty());
  CHECK(notice->patients().at("A").first_encounter.empty());
  // 2026-02-01 + 30 days = 2026-03-03 <= today (2026-03-31): eligible, and it says so once.
  CHECK(notice->record({"A", "20260201", "ssmix2 ADT-12"}));
  CHECK(notice->take_newly_eligible());
  CHECK_FALSE(notice->take_newly_eligible());
  CHECK(notice->eligible("A"));
  CHECK(notice->eligibility("A").eligible_on == "20260303");
  CHECK(notice->eligibility("A").encounter_where == "ssmix2 ADT-12");
  // A later encounter changes nothing; an earlier one moves the date earlier.
  CHECK_FALSE(notice->record({"A", "20260310", "dpc 202603"}));
  CHECK_FALSE(notice->record({"A", "20260110", "ssmix2 OMP-01"}));
  CHECK(notice->eligibility("A").first_encounter == "20260110");
  // Exactly `wait` days ago is eligible; one day less is not.
  CHECK(notice->eligible("B", "20260301"));   // 2026-03-31
  CHECK_FALSE(notice->eligible("B", "20260302"));
  CHECK_FALSE(notice->record({"B", "20260302", "ssmix2 ADT-12"}));
  CHECK(notice->eligibility("B").eligible_on == "20260401");
  // The register: notified by mail before any visit; the earlier of the two counts.
  CHECK(notice->eligible("MAILED"));
  CHECK(notice->eligibility("MAILED").register_entry->line == 2);
  CHECK_FALSE(notice->eligible("LATE"));
  CHECK(notice->eligible("LATE", "20260105"));
  // The clock moves on: B becomes eligible.
  notice->set_today("20260401");
  CHECK(notice->eligible("B"));
}

TEST_CASE("SS-MIX2 paths: dated folders are encounters, planned events and '-' are not") {
  const Ssmix2StandardProfile profile;
  const auto visit = profile.encounter("000/000/0000001/20260105/ADT-12/0000001_20260105_ADT-12_x");
  REQUIRE(visit);
  CHECK(visit->patient_id == "0000001");
  CHECK(visit->date == "20260105");
  CHECK(profile.encounter("000/000/0000001/-/ADT-00/0000001_-_ADT-00_x")->date.empty());
  CHECK(profile.encounter("000/000/0000001/20260405/ADT-21/0000001_20260405_ADT-21_x")->date.empty());
  CHECK_FALSE(profile.encounter("000/000/0000001"));

  PatientPolicy policy;
  policy.notice = book();
  // The undated file of a patient not yet seen waits; once their visit is old enough, everything goes.
  CHECK(profile.exclusion("000/000/0000001/-/ADT-00/0000001_-_ADT-00_x", policy) == Exclusion::notice_pending);
  CHECK(profile.exclusion("000/000/0000001/20260310/ADT-12/0000001_20260310_ADT-12_x", policy) ==
        Exclusion::notice_pending);
  CHECK(profile.exclusion("000/000/0000001/20260105/ADT-12/0000001_20260105_ADT-12_x", policy) == Exclusion::none);
  (void)policy.notice->record({"0000001", "20260105", "ssmix2 ADT-12"});
  CHECK(profile.exclusion("000/000/0000001/-/ADT-00/0000001_-_ADT-00_x", policy) == Exclusion::none);
  // Opt-out wins over eligibility.
  policy.optout = std::make_shared<const OptOutList>(OptOutList::parse("patient_id\n0000001\n"));
  CHECK(profile.exclusion("000/000/0000001/-/ADT-00/0000001_-_ADT-00_x", policy) == Exclusion::opted_out);
}

TEST_CASE("DPC filter: rows of patients not yet eligible are left out, and their month is an encounter") {
  auto policy = std::make_shared<PatientPolicy>();
  policy->notice = book("patient_id,notified_on\n1000000002,2026-01-02\n");
  (void)policy->notice->record({"1000000001", "20260105", "ssmix2 ADT-12"});
  const std::string title = "施設コード\tデータ識別番号\r\n";
  const std::string eligible = "131234567\t1000000001\t00000000\t20260110\t60\r\n";
  const std::string registered = "131234567\t1000000002\t00000000\t20260110\t60\r\n";
  const std::string unseen = "131234567\t1000000003\t00000000\t20260310\t60\r\n";
  // In the March file, 1000000003's first encounter is 2026-03-31: held.
  auto march = make_dpc_filter(policy, 2, "202603");
  CHECK(run(*march, title + eligible + registered + unseen) == title + eligible + registered);
  CHECK(march->result().notice_held == 1);
  CHECK(march->result().rows_removed == 0);
  CHECK(policy->notice->eligibility("1000000003").first_encounter == "20260331");
  // A January file shows an encounter of 1000000003 old enough: kept.
  auto january = make_dpc_filter(policy, 2, "202601");
  CHECK(run(*january, title + unseen) == title + unseen);
  // A file of unknown kind names no patient column: with a notice period its rows wait.
  auto unknown = make_dpc_filter(policy, 0, "");
  CHECK(run(*unknown, title + eligible) == title);
}

TEST_CASE("UKE filter: receipts of patients not yet eligible are left out, the rest still adds up") {
  const std::string uke = test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE");
  auto policy = std::make_shared<PatientPolicy>();
  // The sample's 診療年月 is far in the past; with the notice beginning there, every chart
  // number seen is eligible but the sample's receipts without カルテ番号 wait.
  policy->notice = std::make_shared<NoticeBook>(NoticeSettings{"20000101", 30, "20260331"},
                                                std::make_shared<const NoticeRegister>());
  auto filter = make_uke_filter(policy);
  const std::string out = run(*filter, uke);
  UkeValidator validator;
  validator.feed(out);
  validator.finish();
  for (const UkeFinding& finding : validator.findings()) {
    CHECK((finding.issue == UkeIssue::missing_eof_marker || finding.issue == UkeIssue::go_totals_blank));
  }
  CHECK(validator.summary().receipts + filter->result().notice_held == 75);

  // With the notice beginning after the sample's months, nothing is eligible: only IR and GO remain.
  auto later = std::make_shared<PatientPolicy>();
  later->notice = std::make_shared<NoticeBook>(NoticeSettings{"20260101", 30, "20260331"},
                                               std::make_shared<const NoticeRegister>());
  auto none = make_uke_filter(later);
  const std::string empty = run(*none, uke);
  CHECK(none->result().notice_held == 75);
  CHECK(empty.find("\nRE,") == std::string::npos);
}

TEST_CASE("late rows: the copy of a file with only the patients now eligible adds up on its own") {
  const std::string uke = test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE");
  std::set<std::string, std::less<>> charts;
  for (std::string_view line : split_on(uke, '\n')) {
    if (line.starts_with("RE,") && charts.size() < 3) {
      const auto fields = split_on(line, ',');
      if (!fields[13].empty()) charts.emplace(fields[13]);
    }
  }
  REQUIRE(charts.size() == 3);
  auto policy = std::make_shared<PatientPolicy>();
  policy->notice = std::make_shared<NoticeBook>(NoticeSettings{"20000101", 30, "20260331"},
                                                std::make_shared<const NoticeRegister>());
  auto filter = make_uke_filter(policy, std::make_shared<const std::set<std::string, std::less<>>>(charts));
  const std::string late = run(*filter, uke);
  UkeValidator validator;
  validator.feed(late);
  validator.finish();
  for (const UkeFinding& finding : validator.findings()) {
    CHECK((finding.issue == UkeIssue::missing_eof_marker || finding.issue == UkeIssue::go_totals_blank));
  }
  std::set<std::string, std::less<>> kept;
  for (std::string_view line : split_on(late, '\n')) {
    if (line.starts_with("RE,")) kept.emplace(split_on(line, ',')[13]);
  }
  CHECK(kept == charts);
  CHECK(late.starts_with("IR,"));

  // DPC: the title and the rows of the patients listed, nothing else.
  const std::string title = "施設コード\tデータ識別番号\r\n";
  const std::string a = "131234567\t1000000001\t00000000\t20260110\t60\r\n";
  const std::string b = "131234567\t1000000002\t00000000\t20260110\t60\r\n";
  auto dpc = make_dpc_filter(policy, 2, "202603",
                             std::make_shared<const std::set<std::string, std::less<>>>(
                                 std::set<std::string, std::less<>>{"1000000002"}));
  CHECK(run(*dpc, title + a + b + a) == title + b);
}

}  // namespace medgw::collectors
