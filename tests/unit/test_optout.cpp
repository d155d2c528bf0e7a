// The opt-out list and the DPC/UKE opt-out filters, on the public samples:
// a filtered receipt file passes the same integrity rules and differs from
// the original only by the opted-out patients' receipts; a filtered DPC file
// differs only by their rows; a file without them passes unchanged.
#include <collectors/optout.hpp>
#include <collectors/optout_filter.hpp>
#include <claims/receipts.hpp>
#include <claims/text_encoding.hpp>
#include <claims/text_split.hpp>
#include <collectors/uke_validator.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <set>

namespace medgw::collectors {
using namespace medgw::claims;
namespace {

std::shared_ptr<const PatientPolicy> policy_of(std::string_view csv, bool hold = true) {
  auto policy = std::make_shared<PatientPolicy>();
  policy->optout = std::make_shared<const OptOutList>(OptOutList::parse(csv));
  policy->hold_unidentified = hold;
  return policy;
}

std::string run(OptOutFilter& filter, std::string_view input, std::size_t block) {
  std::string out;
  for (std::size_t at = 0; at < input.size(); at += block) filter.feed(input.substr(at, block), out);
  filter.finish(out);
  return out;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  for (std::string_view line : split_on(text, '\n')) lines.emplace_back(line);
  return lines;
}

std::string uke_sample() { return test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE"); }

// The sample's receipts, independently of the filter: RE line -> its block.
struct Receipt {
  std::string chart;
  std::string kana;
  std::string birth;
  std::vector<std::string> lines;
};

std::vector<Receipt> receipts_of(const std::string& uke) {
  std::vector<Receipt> receipts;
  for (const std::string& line : lines_of(uke)) {
    if (line.starts_with("RE,")) {
      const auto fields = split_on(line, ',');
      receipts.push_back({std::string(fields[13]), *decode_cp932(fields[36]), std::string(fields[6]), {}});
    }
    if (line.starts_with("GO,")) break;
    if (!receipts.empty()) receipts.back().lines.push_back(line);
  }
  return receipts;
}

TEST_CASE("the opt-out list: header, encodings, quoting, and errors that name the line", "[optout]") {
  const OptOutList list = OptOutList::parse(
      "\xEF\xBB\xBFpatient_id,dpc_id,kana_name,birth_date,requested_on\r\n"
      "0000123,,,,2026-01-05\r\n"
      "# a comment\r\n"
      "\"0000456\",9876543210,ヤマダ　タロウ,1950-02-03,\r\n");
  REQUIRE(list.size() == 2);
  CHECK(list.by_patient("0000123")->requested_on == "20260105");
  CHECK(list.by_dpc("0000123") != nullptr);  // no dpc_id: the patient ID is the DPC ID
  CHECK(list.by_dpc("9876543210")->patient_id == "0000456");
  CHECK(list.by_person("ヤマダタロウ", "19500203")->line == 4);
  CHECK(list.by_patient("0000789") == nullptr);

  const auto cp932 = encode_cp932("patient_id,kana_name,birth_date\n1,カナ,2000-01-01\n");
  REQUIRE(cp932);
  CHECK(OptOutList::parse(*cp932).by_person("カナ", "20000101") != nullptr);

  auto error_of = [](std::string_view text) {
    try {
      (void)OptOutList::parse(text);
    } catch (const OptOutError& error) {
      return std::pair<std::size_t, std::string>(error.line(), error.what());
    }
    return std::pair<std::size_t, std::string>(0, "");
  };
  CHECK(error_of("patient_id\n1\n\"2\n").first == 3);
  CHECK(error_of("patient_id,dpc_id\n1,12ab\n").first == 2);
  CHECK(error_of("patient_id,birth_date\n1,1950-13-40\n").first == 2);
  CHECK(error_of("patient_id,birth_date\n1,2026-02-31\n").first == 2);  // no such day
  CHECK(error_of("patient_id,birth_date\n1,2024-02-29\n").first == 0);  // a leap day
  CHECK(error_of("patient_id,kana_name\n1,カナ\n").first == 2);  // a name needs a birth date
  CHECK(error_of("name\n1\n").first == 1);
  CHECK(error_of("patient_id\n1,2\n").first == 2);
  // Values are patient data: an error never repeats them.
  CHECK_THAT(error_of("patient_id,dpc_id\n0000999,12ab\n").second, !Catch::Contains("0000999") && !Catch::Contains("12ab"));
}

TEST_CASE("UKE: opted-out receipts removed, renumbered, GO recomputed, the rest byte for byte", "[optout]") {
  const std::string original = uke_sample();
  const std::vector<Receipt> receipts = receipts_of(original);
  REQUIRE(receipts.size() == 75);
  // Three patients: two by chart number, one by kana name and birth date only.
  const Receipt& by_name = receipts[40];
  auto policy = policy_of("patient_id,kana_name,birth_date\n" + receipts[0].chart + ",,\n" + receipts[2].chart +
                          ",,\nX-NOT-A-CHART," + by_name.kana + "," + by_name.birth + "\n");
  std::set<std::size_t> dropped;
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    const Receipt& r = receipts[i];
    if (r.chart == receipts[0].chart || r.chart == receipts[2].chart ||
        (normalize_kana(r.kana) == normalize_kana(by_name.kana) && r.birth == by_name.birth)) {
      dropped.insert(i);
    }
  }
  REQUIRE(dropped.size() >= 3);

  for (std::size_t block : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, original.size()}) {
    auto filter = make_uke_filter(policy);
    const std::string filtered = run(*filter, original, block);
    CHECK(filter->result().receipts_removed == dropped.size());
    CHECK_FALSE(filter->result().hold);

    // Expected: IR, each kept receipt with its new number, GO; computed here.
    std::vector<std::string> expected;
    const std::vector<std::string> all = lines_of(original);
    expected.push_back(all.front());
    std::size_t number = 0;
    for (std::size_t i = 0; i < receipts.size(); ++i) {
      if (dropped.contains(i)) continue;
      std::vector<std::string> block_lines = receipts[i].lines;
      const auto second = block_lines[0].find(',', 3);
      block_lines[0] = "RE," + std::to_string(++number) + block_lines[0].substr(second);
      expected.insert(expected.end(), block_lines.begin(), block_lines.end());
    }
    const std::vector<std::string> got = lines_of(filtered);
    REQUIRE(got.size() >= expected.size() + 1);
    CHECK(std::vector<std::string>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(expected.size())) == expected);

    // The result passes the same integrity rules as a hospital's file.
    UkeValidator validator;
    validator.feed(filtered);
    validator.finish();
    std::vector<UkeIssue> issues;
    for (const UkeFinding& finding : validator.findings()) issues.push_back(finding.issue);
    CHECK(issues == std::vector<UkeIssue>{UkeIssue::missing_eof_marker});  // as the original: no 0x1A
    CHECK(validator.summary().receipts == 75 - dropped.size());
    CHECK(validator.summary().go_count == validator.summary().insurance_records);
    CHECK(validator.summary().go_points == validator.summary().total_points);
    CHECK(*validator.summary().go_points < 86392);
  }
}

TEST_CASE("UKE: a file without opted-out patients passes unchanged, 0x1A and all", "[optout]") {
  const std::string original = uke_sample() + "\x1a";
  auto filter = make_uke_filter(policy_of("patient_id\nNOBODY-HERE\n"));
  CHECK(run(*filter, original, 333) == original);
  CHECK_FALSE(filter->result().changed());
}

TEST_CASE("UKE: receipts without カルテ番号 are held unless every entry can match by name", "[optout]") {
  std::string uke = uke_sample();
  // Blank the chart number (field 14) of every receipt.
  std::string blanked;
  for (const std::string& line : lines_of(uke)) {
    std::string out = line;
    if (line.starts_with("RE,")) {
      auto fields = split_on(line, ',');
      out.clear();
      for (std::size_t i = 0; i < fields.size(); ++i) out.append(i ? "," : "").append(i == 13 ? "" : std::string(fields[i]));
    }
    blanked += out + "\n";
  }
  blanked.pop_back();
  const Receipt first = receipts_of(uke)[0];
  {
    auto filter = make_uke_filter(policy_of("patient_id\n" + first.chart + "\n"));
    (void)run(*filter, blanked, 4096);
    CHECK(filter->result().hold);
    CHECK(filter->result().unidentified == 75);
  }
  {
    auto filter = make_uke_filter(policy_of("patient_id\n" + first.chart + "\n", /*hold=*/false));
    CHECK(run(*filter, blanked, 4096) == blanked);  // send: as it is
    CHECK_FALSE(filter->result().hold);
  }
  {
    // Every entry has a name and birth date: receipts can be cleared or matched.
    auto filter = make_uke_filter(policy_of("patient_id,kana_name,birth_date\nX," + first.kana + "," + first.birth + "\n"));
    (void)run(*filter, blanked, 4096);
    CHECK_FALSE(filter->result().hold);
    CHECK(filter->result().receipts_removed >= 1);
  }
}

TEST_CASE("receipt birth dates: 西暦 and 和暦", "[optout]") {
  CHECK(receipt_birth_date("19911121") == "19911121");
  CHECK(receipt_birth_date("3451121") == "19701121");  // 昭和45
  CHECK(receipt_birth_date("5010501") == "20190501");  // 令和1
  CHECK(receipt_birth_date("9010101").empty());
  CHECK(receipt_birth_date("").empty());
}

TEST_CASE("DPC: the rows of an opted-out データ識別番号 go, every other byte stays", "[optout]") {
  const std::string utf8 = test::read_file(test::testdata_dir() / "dpc-ef-tanshu3/sample_EFn_XXXXXXXXX_2407.txt");
  std::string crlf;
  for (char c : utf8) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const std::string original = *encode_cp932(crlf);
  const std::vector<std::string> lines = lines_of(original);
  std::set<std::string> ids;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto fields = split_on(lines[i], '\t');
    if (fields.size() > 1) ids.emplace(fields[1]);
  }
  REQUIRE(ids.size() >= 2);
  const std::string victim = *ids.begin();
  std::string expected;
  std::uint64_t removed = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto fields = split_on(lines[i], '\t');
    if (i > 0 && fields.size() > 1 && fields[1] == victim) {
      ++removed;
      continue;
    }
    expected += lines[i] + (i + 1 < lines.size() ? "\n" : "");
  }
  REQUIRE(removed > 0);
  for (std::size_t column : {std::size_t{2}, std::size_t{0}}) {  // by the EF column, and as a file of unknown kind
    auto filter = make_dpc_filter(policy_of("patient_id,dpc_id\nP1," + victim + "\n"), column);
    CHECK(run(*filter, original, 1000) == expected);
    CHECK(filter->result().rows_removed == removed);
  }
  auto untouched = make_dpc_filter(policy_of("patient_id\n9999999999\n"), 2);
  CHECK(run(*untouched, original, 1000) == original);
}

}  // namespace
}  // namespace medgw::collectors
