// The end of a real log file as `medgw diag` reads it: backwards in blocks,
// lines across block boundaries whole, the time window and the size cap.
#include <daemon/support/log_tail.hpp>

#include <tests/support/test_support.hpp>

#include <catch2/catch.hpp>

#include <ctime>

using namespace medgw;
using namespace medgw::daemon;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const crypto::PatientTagger> fixed_tagger() {
  return std::make_shared<const crypto::PatientTagger>(crypto::SecureBytes(crypto::PatientTagger::key_size, 3));
}

std::string stamp(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string("time=") + text + ".000000+00:00";
}

}  // namespace

TEST_CASE("a log file is read from its end with lines across blocks kept whole", "[support][diag]") {
  test::TempDir tmp;
  const auto now = std::chrono::system_clock::now();
  std::string content;
  std::vector<std::string> lines;
  for (int i = 0; i < 30000; ++i) {
    // Lengths vary so that lines straddle the 1 MiB block boundaries.
    std::string line = stamp(now - 1h) + " level=info component=t msg=x n=" + std::to_string(i) + " pad=" +
                       std::string(static_cast<std::size_t>(i % 97), 'a');
    content += line + "\n";
    lines.push_back(line);
  }
  content += "last line without a newline";
  test::write_file(tmp / "medgw.log", content);
  const Redactor redactor(fixed_tagger());
  LogLimits limits;
  limits.since = now - 24h;
  const LogExcerpt all = tail_log_file(tmp / "medgw.log", limits, redactor);
  REQUIRE(all.available);
  CHECK(all.lines == lines.size() + 1);
  CHECK_FALSE(all.cut);
  std::string expected;
  for (const std::string& line : lines) expected += line + "\n";
  CHECK(all.text == expected + "last line without a newline\n");

  limits.budget = 100'000;
  const LogExcerpt capped = tail_log_file(tmp / "medgw.log", limits, redactor);
  CHECK(capped.cut);
  CHECK(capped.text.size() <= 100'000);
  CHECK(capped.text.ends_with("last line without a newline\n"));
  CHECK(all.text.ends_with(capped.text));
  CHECK(capped.bytes_read == 1u << 20);  // one block from the end, not the whole file
}

TEST_CASE("lines older than the window end the excerpt, undated lines stay", "[support][diag]") {
  test::TempDir tmp;
  const auto now = std::chrono::system_clock::now();
  test::write_file(tmp / "medgw.log", stamp(now - 48h) + " old\n" + stamp(now - 30h) + " older than a day\n" +
                                          "another program, no date\n" + stamp(now - 2h) + " recent\n");
  const Redactor redactor(fixed_tagger());
  LogLimits limits;
  limits.since = now - 24h;
  const LogExcerpt excerpt = tail_log_file(tmp / "medgw.log", limits, redactor);
  CHECK(excerpt.text == "another program, no date\n" + stamp(now - 2h) + " recent\n");
  const LogExcerpt missing = tail_log_file(tmp / "nope.log", limits, redactor);
  CHECK_FALSE(missing.available);
  CHECK_THAT(missing.status, Catch::Contains("cannot read"));
}
