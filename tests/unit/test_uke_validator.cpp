#include <collectors/uke_validator.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace medgw;
using namespace medgw::collectors;

namespace {

std::vector<std::string> issues(const UkeValidator& validator) {
  std::vector<std::string> out;
  for (const auto& finding : validator.findings()) out.emplace_back(issue_name(finding.issue));
  return out;
}

std::string sample() { return test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE"); }

}  // namespace

TEST_CASE("the receiptisan sample validates clean: 140 / 86392 / 99", "[uke]") {
  const auto validator = validate_uke(sample());
  CHECK(issues(validator) == std::vector<std::string>{"missing_eof_marker"});  // the sample has no 0x1A
  CHECK_FALSE(validator.has_errors());
  const UkeSummary& summary = validator.summary();
  CHECK(summary.receipts == 75);
  CHECK(summary.insurance_records == 140);
  CHECK(summary.total_points == 86392);
  CHECK(summary.go_count == 140u);
  CHECK(summary.go_points == 86392u);
  CHECK(summary.volume == "99");
  CHECK(summary.billing_month == "202111");
  CHECK(summary.facility == "120000000");
}

TEST_CASE("feeding in small chunks gives the same result", "[uke]") {
  const std::string bytes = sample() + "\x1a";
  UkeValidator validator;
  for (std::size_t i = 0; i < bytes.size(); i += 7) validator.feed(std::string_view(bytes).substr(i, 7));
  validator.finish();
  CHECK(validator.findings().empty());
  CHECK(validator.summary().eof_marker);
  CHECK(validator.summary().total_points == 86392);
}

TEST_CASE("each kind of damage gives its own finding", "[uke]") {
  const std::string good = sample() + "\x1a";
  SECTION("wrong GO total") {
    std::string bad = good;
    bad.replace(bad.find("GO,140,86392,99"), 15, "GO,140,86393,99");
    CHECK(issues(validate_uke(bad)) == std::vector<std::string>{"go_points_mismatch"});
  }
  SECTION("wrong GO count") {
    std::string bad = good;
    bad.replace(bad.find("GO,140,86392,99"), 15, "GO,139,86392,99");
    CHECK(issues(validate_uke(bad)) == std::vector<std::string>{"go_count_mismatch"});
  }
  SECTION("a gap in receipt numbers") {
    std::string bad = good;
    bad.replace(bad.find("\r\nRE,2,"), 7, "\r\nRE,3,");
    const auto found = issues(validate_uke(bad));
    CHECK(std::count(found.begin(), found.end(), "receipt_number_gap") >= 1);
  }
  SECTION("missing GO") {
    std::string bad = good.substr(0, good.find("GO,140"));
    CHECK(issues(validate_uke(bad)) == std::vector<std::string>{"go_missing", "missing_eof_marker"});
  }
  SECTION("truncated last line") {
    std::string bad = good.substr(0, good.find("GO,140") + 6);
    const auto found = issues(validate_uke(bad));
    CHECK(std::find(found.begin(), found.end(), "truncated_last_line") != found.end());
  }
  SECTION("records after GO, data after 0x1A") {
    std::string bad = good.substr(0, good.size() - 1) + "SY,1\r\n\x1a" + "junk";
    const auto found = issues(validate_uke(bad));
    CHECK(found == std::vector<std::string>{"go_not_last", "data_after_eof_marker"});
  }
  SECTION("days do not add up to the count") {
    std::string bad = good;
    const auto at = bad.find("SI,11,2,111000110,,288,1,");
    REQUIRE(at != std::string::npos);
    bad.replace(at, 25, "SI,11,2,111000110,,288,2,");
    CHECK(issues(validate_uke(bad)) == std::vector<std::string>{"days_count_mismatch"});
  }
}
