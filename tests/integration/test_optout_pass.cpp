// Opt-out filtering on the collection pass with real files: a DPC file too
// large to hold is read once - hashed, checked, filtered and compressed in
// the same pass (content_spill.hpp) - and the object holds exactly the
// filtered copy. Where no spill can be made the builder reads the file again
// with the filter, and refuses a file that changed in between rather than
// send something else.
#include <tests/integration/spool_fixture.hpp>
#include <tests/support/object_reader.hpp>

#include <daemon/config/policy_loader.hpp>

#include <collectors/claims_profiles.hpp>
#include <collectors/collection_pass.hpp>

#include <catch2/catch.hpp>

#include <sys/inotify.h>
#include <unistd.h>

namespace medgw {
namespace {

using namespace std::chrono_literals;

// An EF統合 file: 31 tab-separated fields, patients 1000000000 + n.
std::string ef_file(std::size_t rows, std::size_t patients) {
  std::string out = "施設コード\tデータ識別番号\n";
  for (std::size_t i = 0; i < rows; ++i) {
    std::string line = "131234567\t" + std::to_string(1000000000 + i % patients) + "\t20260131\t20260110\t60\t" +
                       std::to_string(1000 + i % 9000) + "\t000";
    for (int f = 7; f < 31; ++f) line += "\t" + std::to_string(f * 7 + static_cast<int>(i % 13));
    out += line + "\r\n";
  }
  return out;
}

std::string without_patient(const std::string& file, const std::string& id) {
  std::string out;
  std::size_t start = 0;
  while (start < file.size()) {
    const std::size_t end = file.find('\n', start);
    const std::string line = file.substr(start, end - start + 1);
    if (line.find("\t" + id + "\t") == std::string::npos) out += line;
    start = end + 1;
  }
  return out;
}

// Counts the times a file is opened (inotify IN_OPEN), by anyone. Closes are
// watched too: inotify folds an event into an identical one still unread.
class OpenCounter {
 public:
  explicit OpenCounter(const std::filesystem::path& file) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    REQUIRE(::inotify_add_watch(fd_, file.c_str(), IN_OPEN | IN_CLOSE) >= 0);
  }
  OpenCounter(const OpenCounter&) = delete;
  OpenCounter& operator=(const OpenCounter&) = delete;
  ~OpenCounter() { ::close(fd_); }
  int opens() {
    alignas(struct inotify_event) char buffer[4096];
    while (true) {
      const ssize_t got = ::read(fd_, buffer, sizeof buffer);
      if (got <= 0) return opens_;
      for (ssize_t at = 0; at < got;) {
        const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + at);
        if ((event->mask & IN_OPEN) != 0U) ++opens_;
        at += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
      }
    }
  }

 private:
  int fd_;
  int opens_ = 0;
};

struct OptOutFixture : test::SpoolFixture {
  collectors::PassSummary pass() {
    collectors::CollectionPass collection(state(), spool(), profile, settings, tagger, capture_logger(capture, "collect"),
                                          {});
    return collection.run();
  }
  std::filesystem::path root = dir / "dpc";
  collectors::DpcProfile profile{"131234567"};
  collectors::CollectorSettings settings{"dpc", root, 0ms};
  crypto::PatientTagger tagger{base::SecureBytes(32, 7)};
};

std::shared_ptr<const collectors::PatientPolicy> policy_for(const std::string& dpc_id) {
  auto policy = std::make_shared<collectors::PatientPolicy>();
  policy->optout = std::make_shared<const collectors::OptOutList>(
      collectors::OptOutList::parse("patient_id,dpc_id\nP-1," + dpc_id + "\n"));
  return policy;
}

TEST_CASE("a large DPC file is read once: filtered and compressed as it is hashed", "[collect][optout]") {
  OptOutFixture fixture;
  std::filesystem::create_directories(fixture.root / "202601");
  const std::string content = ef_file(60'000, 400);  // ~9.5 MiB: above the in-memory limit
  REQUIRE(content.size() > fixture.settings.in_memory_limit);
  test::write_file(fixture.root / "202601/EFn_131234567_2601.txt", content);
  fixture.settings.policy = policy_for("1000000007");

  // A second one with nobody to leave out: sent as it is, read once too.
  const std::string untouched = ef_file(60'000, 5);
  test::write_file(fixture.root / "202601/EFn_131234567_2602.txt", untouched);

  OpenCounter counter(fixture.root / "202601/EFn_131234567_2601.txt");
  OpenCounter untouched_counter(fixture.root / "202601/EFn_131234567_2602.txt");
  const collectors::PassSummary summary = fixture.pass();
  CHECK(counter.opens() == 1);
  CHECK(untouched_counter.opens() == 1);
  CHECK(summary.added == 2);
  CHECK(summary.rows_removed == 150);
  base::Statement query = fixture.db().prepare("SELECT file_name FROM objects ORDER BY seq");
  REQUIRE(query.step());
  const test::ObjectContent object = test::read_object(fixture.spool_dir() / query.column_text(0), fixture.central);
  const std::string sent = object.files.at("dpc/202601/EFn_131234567_2601.txt");
  CHECK(sent.size() < content.size());
  CHECK((sent == without_patient(content, "1000000007")));
  CHECK_THAT(object.manifest, Catch::Contains("\"optout\":{\"rows_removed\":150,\"receipts_removed\":0}"));
  CHECK_THAT(object.manifest, !Catch::Contains("1000000007"));
  REQUIRE(query.step());
  const test::ObjectContent second = test::read_object(fixture.spool_dir() / query.column_text(0), fixture.central);
  CHECK((second.files.at("dpc/202601/EFn_131234567_2602.txt") == untouched));
}

TEST_CASE("a filtered file that changed between hashing and building is not sent", "[collect][optout]") {
  OptOutFixture fixture;
  const std::filesystem::path file = fixture.dir / "EFn.txt";
  const std::string content = ef_file(1000, 10);
  test::write_file(file, content);
  auto policy = policy_for("1000000003");
  const std::string filtered = without_patient(content, "1000000003");

  spool::ObjectEntry entry;
  entry.source = "dpc";
  entry.path = "EFn.txt";
  entry.file = file;
  entry.size = filtered.size();
  entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(filtered)));
  entry.source_size = content.size();
  entry.source_sha256 = base::to_hex(crypto::sha256(base::as_bytes(content)));
  entry.filter = [&policy] { return std::unique_ptr<spool::ContentFilter>(collectors::make_dpc_filter(policy, 2)); };
  REQUIRE(fixture.spool().build(std::vector{entry}).committed());

  // Same size, another patient's row in place of one: the file's hash no longer matches.
  std::string swapped = content;
  swapped.replace(swapped.find("1000000005"), 10, "1000000006");
  test::write_file(file, swapped);
  CHECK(fixture.spool().build(std::vector{entry}).status == spool::BuildStatus::source_changed);

  // A filter that would keep a different copy (another list) is refused too.
  test::write_file(file, content);
  auto other = policy_for("1000000004");
  entry.filter = [&other] { return std::unique_ptr<spool::ContentFilter>(collectors::make_dpc_filter(other, 2)); };
  CHECK(fixture.spool().build(std::vector{entry}).status == spool::BuildStatus::source_changed);
}

TEST_CASE("the builder's read that leaves out recorded rows refuses a file changed in between", "[collect][optout]") {
  // The first read records which bytes the filter left out; the object's
  // build leaves out the same ones without looking at rows, so a file whose
  // bytes moved would come out wrong: the builder's checks must refuse it.
  OptOutFixture fixture;
  const std::filesystem::path file = fixture.dir / "EFn.txt";
  const std::string content = ef_file(1000, 10);
  test::write_file(file, content);
  auto filter = collectors::make_dpc_filter(policy_for("1000000003"), 2);
  std::string filtered;
  filter->feed(content, filtered);
  filter->finish(filtered);
  REQUIRE(filtered == without_patient(content, "1000000003"));
  const auto dropped = filter->result().dropped_rows;
  REQUIRE(dropped);
  REQUIRE(dropped->complete);

  spool::ObjectEntry entry;
  entry.source = "dpc";
  entry.path = "EFn.txt";
  entry.file = file;
  entry.size = filtered.size();
  entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(filtered)));
  entry.source_size = content.size();
  entry.source_sha256 = base::to_hex(crypto::sha256(base::as_bytes(content)));
  entry.filter = [dropped] { return collectors::make_dropped_rows_filter(dropped); };
  REQUIRE(fixture.spool().build(std::vector{entry}).committed());

  // Same size, one row's patient swapped for another's: the file's hash no longer matches.
  std::string swapped = content;
  swapped.replace(swapped.find("1000000005"), 10, "1000000003");
  test::write_file(file, swapped);
  CHECK(fixture.spool().build(std::vector{entry}).status == spool::BuildStatus::source_changed);
  // A row inserted before the dropped ones: longer, so refused before it is read.
  test::write_file(file, "131234567\t1000000009\r\n" + content);
  CHECK(fixture.spool().build(std::vector{entry}).status == spool::BuildStatus::source_changed);
}

TEST_CASE("the opt-out list is re-read when it changes, and a broken one leaves the previous in force", "[optout]") {
  test::TempDir dir;
  const auto file = dir.path() / "optout.csv";
  daemon::PolicyConfig config;
  config.optout_file = file;
  config.since = "2y";
  daemon::PolicyLoader loader(config);
  const auto now = std::chrono::system_clock::now();

  // Before any list: nothing in force, and the error names the file.
  auto problem = loader.refresh(now);
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Contains(file.string()) && Catch::Contains("nothing is collected"));
  CHECK(loader.current() == nullptr);

  test::write_file(file, "patient_id\nA1\n");
  CHECK_FALSE(loader.refresh(now));
  CHECK(loader.changed());
  REQUIRE(loader.current()->opted_out("A1"));
  CHECK(loader.current()->since.size() == 8);
  CHECK_FALSE(loader.refresh(now));
  CHECK_FALSE(loader.changed());  // unchanged file: not parsed again

  test::write_file(file, "patient_id,dpc_id\nA1,\nB2,notdigits\n");
  problem = loader.refresh(now);
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Contains(file.string() + ":3:") && Catch::Contains("previous list stays in force"));
  CHECK_THAT(*problem, !Catch::Contains("B2") && !Catch::Contains("notdigits"));
  CHECK(loader.current()->opted_out("A1"));
  CHECK_FALSE(loader.current()->opted_out("B2"));

  test::write_file(file, "patient_id\nA1\nB2\n");
  CHECK_FALSE(loader.refresh(now));
  CHECK(loader.current()->opted_out("B2"));
}

TEST_CASE("policy.since: a date, or years before today", "[optout]") {
  using namespace std::chrono;
  const auto day = sys_days{2026y / March / 1} + 12h;
  CHECK(daemon::since_as_date("2024-04-01", day) == "20240401");
  CHECK(daemon::since_as_date("3y", day) == "20230301");
  CHECK(daemon::since_as_date("", day).empty());
  collectors::PatientPolicy policy;
  policy.since = "20240401";
  CHECK(policy.before_since("20240331"));
  CHECK_FALSE(policy.before_since("20240401"));
  CHECK(policy.before_since("202403"));   // a month before
  CHECK_FALSE(policy.before_since("202404"));  // the month the window opens in
}

}  // namespace
}  // namespace medgw
