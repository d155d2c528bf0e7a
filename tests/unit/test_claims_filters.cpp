// The DPC/UKE record logic of claims/ that the gateway filters with and the
// central erases with (issue 19), on the public samples in shared/testdata:
// removing one patient keeps every other row and receipt byte for byte,
// renumbers the receipts and keeps GO consistent; a file without the patient
// comes out unchanged. The gateway's opt-out filter and the central's
// PatientSet give the same bytes: one filter, two judges.
#include <claims/dpc_files.hpp>
#include <claims/dpc_rows.hpp>
#include <claims/patient_set.hpp>
#include <claims/receipts.hpp>
#include <claims/text_encoding.hpp>
#include <claims/text_split.hpp>
#include <collectors/optout_filter.hpp>
#include <collectors/uke_validator.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

namespace medgw::claims {
namespace {

template <class Filter>
std::string run(Filter& filter, std::string_view input, std::size_t block) {
  std::string out;
  for (std::size_t at = 0; at < input.size(); at += block) filter.feed(input.substr(at, block), out);
  filter.finish(out);
  return out;
}

std::vector<std::string> crlf_lines(std::string_view text) {
  std::vector<std::string> lines;
  for (std::string_view line : split_on(text, '\n')) lines.emplace_back(line);
  return lines;
}

// Each receipt of a UKE file (RE up to the next RE or GO) with its RE number blanked.
std::vector<std::string> receipts_of(const std::string& uke) {
  std::vector<std::string> out;
  for (const std::string& line : crlf_lines(uke)) {
    if (line.starts_with("GO,")) break;
    if (line.starts_with("RE,")) {
      out.push_back("RE," + line.substr(line.find(',', 3)));
      continue;
    }
    if (!out.empty()) out.back() += "\n" + line;
  }
  return out;
}

std::string dpc_sample(std::string_view name) {
  // The sample is UTF-8 with LF (converted by its publisher); hospitals' files are CP932 with CRLF.
  const std::string utf8 = test::read_file(test::testdata_dir() / "dpc-ef-tanshu3" / std::string(name));
  std::string crlf;
  for (char c : utf8) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return *encode_cp932(crlf);
}

TEST_CASE("claims: withdrawing one patient from a real receipt file keeps the rest and GO consistent", "[claims]") {
  const std::string original = test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE");
  const std::vector<std::string> before = receipts_of(original);
  REQUIRE(before.size() == 75);
  // One patient by chart number (RE 14 = 00886), one without a usable chart
  // number, matched by kana name and birth date (RE 37, RE 7: カキクケコ, 19910125).
  PatientSet withdrawn;
  withdrawn.add({"00886", "", "", ""});
  withdrawn.add({"NOT-IN-THIS-FILE", "", "カキクケコ", "19910125"});
  std::vector<std::string> expected;
  for (const std::string& receipt : before) {
    const std::string head = receipt.substr(0, receipt.find('\n'));
    const auto fields = split_on(head, ',');  // views into head
    const bool gone = fields[13] == "00886" || (*decode_cp932(fields[36]) == "カキクケコ" && fields[6] == "19910125");
    if (!gone) expected.push_back(receipt);
  }
  REQUIRE(expected.size() < before.size());

  for (std::size_t block : {std::size_t{1}, std::size_t{7}, std::size_t{1 << 16}}) {
    auto filter = make_receipt_filter(withdrawn);
    const std::string out = run(*filter, original, block);
    CHECK(filter->counts().removed == before.size() - expected.size());
    CHECK(filter->counts().held == 0);
    CHECK(receipts_of(out) == expected);  // every other receipt byte for byte, in order
    CHECK(crlf_lines(out).front() == crlf_lines(original).front());  // IR as it was
    // RE numbered 1..n, and GO's totals agree with the receipts kept (domain.md §3.4).
    collectors::UkeValidator validator;
    validator.feed(out);
    validator.finish();
    for (const collectors::UkeFinding& finding : validator.findings()) {
      CHECK(finding.issue != collectors::UkeIssue::receipt_number_gap);
      CHECK(finding.issue != collectors::UkeIssue::go_count_mismatch);
      CHECK(finding.issue != collectors::UkeIssue::go_points_mismatch);
    }
    CHECK(validator.summary().receipts == expected.size());
    CHECK(validator.summary().go_count == validator.summary().insurance_records);
    CHECK(validator.summary().go_points == validator.summary().total_points);
    CHECK(validator.summary().go_points < 86392);
    CHECK(out.find(",00886,") == std::string::npos);
  }

  SECTION("a file without the patient comes out unchanged") {
    PatientSet nobody_here;
    nobody_here.add({"99999", "", "", ""});
    auto filter = make_receipt_filter(nobody_here);
    CHECK(run(*filter, original, 4096) == original);
    CHECK_FALSE(filter->counts().changed());
  }

  SECTION("the gateway's opt-out filter gives the same bytes") {
    auto policy = std::make_shared<collectors::PatientPolicy>();
    policy->optout = std::make_shared<const collectors::OptOutList>(collectors::OptOutList::parse(
        "patient_id,kana_name,birth_date\n00886,,\nNOT-IN-THIS-FILE,カキクケコ,1991-01-25\n"));
    auto gateway = collectors::make_uke_filter(policy);
    auto central = make_receipt_filter(withdrawn);
    CHECK(run(*gateway, original, 4096) == run(*central, original, 4096));
    CHECK(gateway->result().receipts_removed == central->counts().removed);
  }
}

TEST_CASE("claims: withdrawing one patient from real DPC EF files keeps every other row", "[claims]") {
  const std::string july = dpc_sample("sample_EFn_XXXXXXXXX_2407.txt");
  const std::string august = dpc_sample("sample_EFn_XXXXXXXXX_2408.txt");
  std::set<std::string> july_ids, august_ids;
  for (const auto& [file, ids] : {std::pair{&july, &july_ids}, std::pair{&august, &august_ids}}) {
    const auto lines = crlf_lines(*file);
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const auto fields = split_on(lines[i], '\t');
      if (fields.size() > 1) ids->emplace(fields[1]);
    }
  }
  REQUIRE(july_ids.size() >= 2);
  const std::string victim = *july_ids.begin();
  PatientSet withdrawn;
  withdrawn.add({"P-" + victim, victim, "", ""});  // its DPC number differs from its patient ID

  std::string expected;
  std::uint64_t rows = 0;
  for (const std::string& line : crlf_lines(july)) {
    const auto fields = split_on(line, '\t');
    if (fields.size() > 1 && fields[1] == victim) {
      ++rows;
      continue;
    }
    expected += line + "\n";
  }
  expected.pop_back();  // the last piece has no line end
  REQUIRE(rows > 0);
  const std::size_t column = dpc_id_column("2024/EFn_131234567_2407.txt");
  CHECK(column == 2);
  for (std::size_t id_column : {column, std::size_t{0}}) {  // by the EF column, and as a file of unknown kind
    DroppedRanges dropped;
    auto filter = make_dpc_row_filter(id_column, withdrawn, &dropped);
    CHECK(run(*filter, july, 333) == expected);
    CHECK(filter->counts().removed == rows);
    // A large file's second read: the same bytes left out, no row looked at.
    REQUIRE(dropped.complete);
    REQUIRE_FALSE(dropped.ranges.empty());
    for (std::size_t block : {1, 7, 333, 1 << 20}) {
      auto again = make_dropped_ranges_filter(std::make_shared<const DroppedRanges>(dropped));
      CHECK(run(*again, july, block) == expected);
    }
  }
  if (!august_ids.contains(victim)) {
    auto filter = make_dpc_row_filter(column, withdrawn);
    CHECK(run(*filter, august, 333) == august);
    CHECK_FALSE(filter->counts().changed());
  }
}

}  // namespace
}  // namespace medgw::claims

namespace medgw::claims {
namespace {

std::vector<std::string_view> split_one_by_one(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (text[at] != separator) continue;
    parts.push_back(text.substr(start, at - start));
    start = at + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace

TEST_CASE("DPC rows left out are recorded as merged byte ranges, up to a limit", "[claims]") {
  PatientSet withdrawn;
  withdrawn.add({"", "22", "", ""});
  // Rows 2 and 3 touch (one range), row 5 is the last piece without a line end.
  const std::string file = "131234567\t11\tx\r\n131234567\t22\ty\r\n131234567\t22\tz\n131234567\t33\r\n131234567\t22";
  DroppedRanges dropped;
  auto filter = make_dpc_row_filter(2, withdrawn, &dropped);
  const std::string kept = run(*filter, file, 5);
  CHECK(kept == "131234567\t11\tx\r\n131234567\t33\r\n");
  REQUIRE(dropped.ranges.size() == 2);
  CHECK(dropped.ranges[0].offset == 16);
  CHECK(dropped.ranges[0].size == 31);
  CHECK(dropped.ranges[1].offset == 61);
  CHECK(dropped.ranges[1].size == 12);
  auto again = make_dropped_ranges_filter(std::make_shared<const DroppedRanges>(dropped));
  CHECK(run(*again, file, 3) == kept);

  DroppedRanges few;
  few.limit = 1;
  auto limited = make_dpc_row_filter(2, withdrawn, &few);
  CHECK(run(*limited, file, 4096) == kept);  // the filter itself is unaffected
  CHECK_FALSE(few.complete);
  CHECK(few.ranges.empty());
  CHECK_THROWS_AS(make_dropped_ranges_filter(std::make_shared<const DroppedRanges>(few)), std::logic_error);
}

TEST_CASE("split_into finds every separator, eight bytes at a time or not", "[claims]") {
  // Separators at every position of a word, next to bytes that differ from
  // them in one bit or in the top bit (0x09 vs 0x08, 0x89; ',' vs 0xAC).
  std::uint32_t state = 7;
  auto next = [&state] {
    state = state * 1664525U + 1013904223U;
    return state >> 24;
  };
  const char alphabet[] = {'\t', '\t', ',', 'a', '0', '\x08', '\x89', '\xac', '\x00', '\xff', '\x81'};
  std::vector<std::string_view> parts;
  for (int round = 0; round < 20000; ++round) {
    std::string text(next() % 80, ' ');
    for (char& c : text) c = alphabet[next() % sizeof alphabet];
    for (char separator : {'\t', ','}) {
      INFO(text);
      split_into(text, separator, parts);
      REQUIRE(parts == split_one_by_one(text, separator));
      REQUIRE(split_on(text, separator) == parts);
    }
  }
}

}  // namespace medgw::claims
