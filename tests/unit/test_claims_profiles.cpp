// DPC and receipt profiles on the public samples (domain.md §2, §3): clean
// files validate clean, each kind of damage gives its own anomaly, and large
// files validated block by block give the same result as whole.
#include <collectors/claims_profiles.hpp>
#include <claims/text_encoding.hpp>
#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

namespace medgw::collectors {
using namespace medgw::claims;
namespace {

std::vector<std::string_view> kinds(const Analysis& analysis) { return anomaly_names(analysis.anomalies); }

std::string uke_sample() { return test::read_file(test::testdata_dir() / "uke-receiptisan/RECEIPTC_GAIRAI_SAMPLE.UKE"); }

// The tanshu3 EF samples are UTF-8 with LF; hospitals' files are CP932 with CRLF.
std::string ef_sample_as_exported(const std::string& name) {
  const std::string utf8 = test::read_file(test::testdata_dir() / "dpc-ef-tanshu3" / name);
  std::string crlf;
  for (char c : utf8) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto cp932 = encode_cp932(crlf);
  REQUIRE(cp932);
  return *cp932;
}

Analysis in_blocks(const SourceProfile& profile, std::string_view path, std::string_view content, std::size_t block) {
  auto check = profile.stream_check(path);
  REQUIRE(check);
  for (std::size_t at = 0; at < content.size(); at += block) check->update(content.substr(at, block));
  return check->finish();
}

TEST_CASE("the receiptisan UKE sample validates clean", "[claims]") {
  const ReceiptProfile profile("120000000");
  const Analysis analysis = profile.analyze("202111/RECEIPTC.UKE", uke_sample());
  CHECK(kinds(analysis) == std::vector<std::string_view>{"uke_eof_marker_missing"});  // a notice: the sample has no 0x1A
  CHECK_THAT(analysis.meta_json, Catch::Contains("\"kind\":\"receipt_medical\""));
  CHECK_THAT(analysis.meta_json, Catch::Contains("\"facility\":\"120000000\",\"billing_month\":\"202111\""));
  CHECK_THAT(analysis.meta_json, Catch::Contains("\"receipts\":75,\"insurance_records\":140,\"total_points\":86392"));
  CHECK_THAT(analysis.meta_json, Catch::Contains("\"go_count\":140,\"go_points\":86392"));
  CHECK_THAT(analysis.meta_json, Catch::Contains("\"verdict\":\"ok\""));
  CHECK(kinds(in_blocks(profile, "202111/RECEIPTC.UKE", uke_sample(), 1000)) == kinds(analysis));
}

TEST_CASE("damaged UKE copies each give their own anomaly", "[claims]") {
  const ReceiptProfile profile("120000000");
  const std::string good = uke_sample() + "\x1a";
  REQUIRE(profile.analyze("RECEIPTC.UKE", good).anomalies == 0);
  auto single = [&](std::string bad) {
    const Analysis analysis = profile.analyze("RECEIPTC.UKE", bad);
    CHECK_THAT(analysis.meta_json, Catch::Contains("\"verdict\":\"flagged\""));
    return kinds(analysis);
  };
  std::string wrong_total = good;
  wrong_total.replace(wrong_total.find("GO,140,86392,99"), 15, "GO,140,86393,99");
  CHECK(single(wrong_total) == std::vector<std::string_view>{"uke_go_totals"});
  std::string gap = good;
  gap.replace(gap.find("\r\nRE,2,"), 7, "\r\nRE,3,");
  CHECK(single(gap) == std::vector<std::string_view>{"uke_receipt_gap"});
  CHECK(single(good.substr(0, good.find("GO,140"))) ==
        std::vector<std::string_view>{"uke_go_missing", "uke_eof_marker_missing"});
  const auto truncated = single(good.substr(0, good.find("GO,140") + 6));
  CHECK(std::find(truncated.begin(), truncated.end(), "truncated_last_line") != truncated.end());

  // Another hospital's file, and a file in the wrong month's folder.
  CHECK(kinds(ReceiptProfile("131234567").analyze("RECEIPTC.UKE", good)) ==
        std::vector<std::string_view>{"facility_mismatch"});
  CHECK(kinds(profile.analyze("202112/RECEIPTC.UKE", good)) == std::vector<std::string_view>{"month_mismatch"});
  // Not a UKE file: kept as it is, a notice.
  CHECK(kinds(profile.analyze("202111/readme.txt", "hello")) == std::vector<std::string_view>{"unknown_kind"});
}

TEST_CASE("the tanshu3 EF samples, as CP932 with CRLF, validate clean", "[claims]") {
  const DpcProfile profile("131234567");  // the samples carry an all-zero 施設コード: not compared
  for (const char* name : {"sample_EFn_XXXXXXXXX_2407.txt", "sample_EFn_XXXXXXXXX_2408.txt"}) {
    INFO(name);
    const std::string content = ef_sample_as_exported(name);
    const Analysis analysis = profile.analyze(std::string("202407/") + name, content);
    CHECK(analysis.anomalies == 0);
    CHECK_THAT(analysis.meta_json, Catch::Contains("\"kind\":\"ef_inpatient\""));
    CHECK_THAT(analysis.meta_json, Catch::Contains("\"header\":true"));
    CHECK_THAT(analysis.meta_json, Catch::Contains("\"verdict\":\"ok\""));
    CHECK(in_blocks(profile, name, content, 333).anomalies == 0);
  }
  const Analysis july = profile.analyze("sample_EFn_XXXXXXXXX_2407.txt", ef_sample_as_exported("sample_EFn_XXXXXXXXX_2407.txt"));
  CHECK_THAT(july.meta_json, Catch::Contains("\"month\":\"202407\",\"records\":37"));
}

TEST_CASE("damaged DPC copies each give their own anomaly", "[claims]") {
  const DpcProfile profile("131234567");
  const std::string good = ef_sample_as_exported("sample_EFn_XXXXXXXXX_2407.txt");
  SECTION("a row with a column too many") {
    std::string bad = good;
    bad.insert(bad.find("\r\n", bad.find("\r\n") + 2), "\textra");
    CHECK(kinds(profile.analyze("EFn_000000000_2407.txt", bad)) == std::vector<std::string_view>{"field_count"});
  }
  SECTION("the month in the name is not the content's") {
    CHECK(kinds(profile.analyze("EFn_000000000_2408.txt", good)) == std::vector<std::string_view>{"month_mismatch"});
  }
  SECTION("two facility codes in one file") {
    std::string bad = good;
    const auto second_row = bad.find("\r\n", bad.find("\r\n") + 2) + 2;
    bad.replace(second_row, 9, "131234567");
    CHECK(kinds(profile.analyze("EFn_000000000_2407.txt", bad)) == std::vector<std::string_view>{"facility_mismatch"});
  }
  SECTION("not CP932, LF line ends, cut off") {
    std::string bad = good;
    bad.insert(bad.find("\r\n") + 2 + 10, "\xff");
    const std::string lf = good.substr(0, good.size() - 2) + "\n";
    CHECK(kinds(profile.analyze("EFn_000000000_2407.txt", bad)) == std::vector<std::string_view>{"encoding_invalid"});
    CHECK(kinds(profile.analyze("EFn_000000000_2407.txt", lf)) == std::vector<std::string_view>{"lf_line_endings"});
    CHECK(kinds(profile.analyze("EFn_000000000_2407.txt", good.substr(0, good.size() - 2))) ==
          std::vector<std::string_view>{"truncated_last_line"});
  }
  SECTION("a file of another hospital") {
    std::string other = good;
    for (std::size_t at = other.find("\r\n000000000"); at != std::string::npos; at = other.find("\r\n000000000", at)) {
      other.replace(at + 2, 9, "139999999");
    }
    CHECK(kinds(profile.analyze("EFn_139999999_2407.txt", other)) == std::vector<std::string_view>{"facility_mismatch"});
  }
  SECTION("kind by content when the name does not say") {
    const Analysis analysis = profile.analyze("202407/export.txt", good);
    CHECK(analysis.anomalies == 0);
    CHECK_THAT(analysis.meta_json, Catch::Contains("\"kind\":\"ef_inpatient\""));
    CHECK(kinds(profile.analyze("202407/notes.txt", "free text\r\n")) == std::vector<std::string_view>{"unknown_kind"});
  }
}

}  // namespace
}  // namespace medgw::collectors
