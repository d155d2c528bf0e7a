// The collection pass on real folders, a real state.db and real spool
// objects (decrypted and unpacked as the central would), with a settable
// clock for the settle rule.
#include <tests/integration/spool_fixture.hpp>
#include <tests/support/object_reader.hpp>

#include <collectors/collection_pass.hpp>
#include <collectors/ssmix2_profile.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw {
namespace {

using namespace std::chrono_literals;
using collectors::CollectionPass;
using collectors::PassSummary;

const std::string hl7 =
    "MSH|^~\\&|HIS|SEND|GW|RCV|20111220224447||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87||ISO 2022-1994\r"
    "PID|0001||9999013^^^^PI||\x1b$B45<T\x1b(B^\x1b$BB@O:\x1b(B^^^^^L^I\r";
const std::string folder = "999/901/9999013/-/ADT-00/";
const std::string name_1 = "9999013_-_ADT-00_999999999999999_20111220224447339_-_1";
const std::string name_2 = "9999013_-_ADT-00_999999999999999_20111220224447339_-_2";

struct CollectFixture : test::SpoolFixture {
  CollectFixture() { std::filesystem::create_directories(root); }

  PassSummary pass() {
    CollectionPass collection(state(), spool(), profile, settings, tagger, capture_logger(capture, "collect"),
                              [this] { return std::chrono::system_clock::now() + later; });
    return collection.run();
  }

  void write(const std::string& relative, const std::string& content) {
    std::filesystem::create_directories((root / relative).parent_path());
    test::write_file(root / relative, content);
  }

  // Every object in seq order, opened as the central does.
  std::vector<test::ObjectContent> objects() {
    std::vector<test::ObjectContent> out;
    base::Statement query = db().prepare("SELECT file_name FROM objects ORDER BY seq");
    while (query.step()) out.push_back(test::read_object(spool_dir() / query.column_text(0), central));
    return out;
  }

  std::int64_t indexed() {
    base::Statement query = db().prepare("SELECT count(*) FROM file_index WHERE source = 'ssmix2'");
    REQUIRE(query.step());
    return query.column_int64(0);
  }

  bool in_index(const std::string& relative) {
    base::Statement query = db().prepare("SELECT 1 FROM file_index WHERE source = 'ssmix2' AND path = ?1");
    query.bind_all(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(relative.data()), relative.size()));
    return query.step();
  }

  std::filesystem::path root = dir / "source";
  collectors::Ssmix2StandardProfile profile;
  collectors::CollectorSettings settings{"ssmix2", root, 0ms};
  crypto::PatientTagger tagger{base::SecureBytes(32, 7)};
  std::chrono::seconds later{0};  // how far the collector's clock runs ahead (the settle rule)
};

TEST_CASE("the walk reports files in the byte order of their paths and follows no link", "[collect]") {
  test::TempDir dir;
  const auto root = dir.path();
  for (const char* file : {"a/z", "a-b", "a.c/f", "a0", "b/c/d/e", "\xff\xfe", "B", "a/y/x"}) {
    std::filesystem::create_directories((root / file).parent_path());
    test::write_file(root / file, "x");
  }
  std::filesystem::create_directory_symlink("/etc", root / "out-of-root");
  std::filesystem::create_directory_symlink(".", root / "b" / "loop");
  std::filesystem::create_symlink(root / "a0", root / "link-to-file");
  REQUIRE(::mkfifo((root / "fifo").c_str(), 0600) == 0);

  std::vector<std::string> seen;
  collectors::TreeWalker walker;
  const auto counters = walker.walk(
      root, [&](std::string_view path, const collectors::FileStat& stat) {
        seen.emplace_back(path);
        CHECK(stat.size == 1);
      },
      [](collectors::WalkProblem, std::string_view) {});
  std::vector<std::string> expected{"a/z", "a-b", "a.c/f", "a0", "b/c/d/e", "\xff\xfe", "B", "a/y/x"};
  std::sort(expected.begin(), expected.end());  // byte order, as the index's BLOB keys
  CHECK(seen == expected);
  CHECK(counters.files == 8);
  CHECK(counters.symlinks_skipped == 3);
  CHECK(counters.special_skipped == 1);
}

TEST_CASE("a walk split over helper threads reports what one thread does, in the same order", "[collect][walk]") {
  test::TempDir dir;
  const auto root = dir.path();
  // Under a single folder (as SS-MIX2's 000 under its root, where the walk
  // splits one level down): folders of every size (one far above a helper's
  // buffer), files between them, links, a fifo, an empty folder, nesting.
  const std::filesystem::path top = root / "000";
  for (int at = 0; at < 40; ++at) {
    const int files = at == 7 ? 9000 : at % 5;
    const std::string name = (at % 3 == 0 ? "d" : "D") + std::to_string(at);
    std::filesystem::create_directories(top / name / "sub");
    for (int i = 0; i < files; ++i) test::write_file(top / name / ("f" + std::to_string(i)), std::to_string(i));
    test::write_file(top / name / "sub" / "deep", "x");
    test::write_file(top / (name + ".file"), "between the folders");
  }
  test::write_file(root / "000.file", "beside the folder");
  // A folder of many folders inside the split one (as SS-MIX2's patient
  // folders under their second-level folder): the split goes down into it,
  // and into one of its folders that holds many too, with files and a link
  // between the folders.
  const std::filesystem::path many = top / "many";
  for (int at = 0; at < 20; ++at) {
    test::write_file(many / ("p" + std::to_string(at)) / "day" / "file", std::to_string(at));
    test::write_file(many / ("p" + std::to_string(at) + ".txt"), "between");
  }
  for (int at = 0; at < 16; ++at) test::write_file(many / "p0" / ("q" + std::to_string(at)) / "file", "deeper");
  std::filesystem::create_directory_symlink("/etc", many / "p3-link");
  std::filesystem::create_directory(top / "empty");
  std::filesystem::create_directory_symlink("/etc", top / "d3" / "out-of-root");
  std::filesystem::create_symlink(top / "d0.file", top / "link-to-file");
  REQUIRE(::mkfifo((top / "D4" / "fifo").c_str(), 0600) == 0);

  auto walk = [&](std::size_t helpers, std::vector<std::string>& events,
                  std::size_t budget = collectors::TreeWalker::default_split_budget) {
    collectors::TreeWalker walker;
    return walker.walk(
        root,
        [&](std::string_view path, const collectors::FileStat& stat) {
          events.push_back(std::string(path) + " " + std::to_string(stat.size) + " " + std::to_string(stat.inode));
        },
        [&](collectors::WalkProblem problem, std::string_view path) {
          events.push_back(std::string(collectors::walk_problem_name(problem)) + " " + std::string(path));
        },
        helpers, budget);
  };
  std::vector<std::string> alone;
  std::vector<std::string> helped;
  const collectors::WalkCounters one = walk(0, alone);
  const collectors::WalkCounters two = walk(2, helped);
  // folder 7, the others' f*, each sub/deep, each .file, 000.file, many
  CHECK(one.files == 9000 + 78 + 40 + 40 + 1 + 40 + 16);
  CHECK(alone.size() == one.files + 4);  // three links and the fifo
  CHECK(helped.size() == alone.size());
  CHECK((helped == alone));
  CHECK(two.files == one.files);
  CHECK(two.directories == one.directories);
  CHECK(two.symlinks_skipped == one.symlinks_skipped);
  CHECK(two.special_skipped == one.special_skipped);
  CHECK(one.symlinks_skipped == 3);
  CHECK(one.special_skipped == 1);
  CHECK(helped.front().starts_with("000.file "));  // '.' sorts before '/'
  // Helpers held back by a budget smaller than one batch (each folder ahead
  // waits until it is the one reported): the same again.
  std::vector<std::string> held_back;
  const collectors::WalkCounters three = walk(2, held_back, 1024);
  CHECK((held_back == alone));
  CHECK(three.files == one.files);
  CHECK(three.directories == one.directories);

  // A caller that stops half-way (its callback throws) stops the helpers.
  collectors::TreeWalker walker;
  std::size_t visited = 0;
  CHECK_THROWS_AS(walker.walk(
                      root,
                      [&](std::string_view, const collectors::FileStat&) {
                        if (++visited == 5000) throw std::runtime_error("enough");
                      },
                      [](collectors::WalkProblem, std::string_view) {}, 2),
                  std::runtime_error);
}

namespace {

// What the walk_open test's hook made of a file: its bytes, read from the
// descriptor the walk held; `live` counts those not yet dropped.
struct ReadContent final : collectors::FileWork {
  explicit ReadContent(std::atomic<int>& counter) : live(counter) { ++live; }
  ~ReadContent() override { --live; }
  [[nodiscard]] std::size_t bytes() const override { return content.size() + 64; }
  std::string content;
  std::atomic<int>& live;  // made on the walk's threads, dropped on the caller's
};

}  // namespace

TEST_CASE("a walk that opens its files works on each while it holds it, in the same order", "[collect][walk]") {
  test::TempDir dir;
  const auto root = dir.path();
  const std::filesystem::path top = root / "000";
  for (int at = 0; at < 30; ++at) {
    const std::string name = "d" + std::to_string(at);
    std::filesystem::create_directories(top / name);
    for (int i = 0; i < (at == 4 ? 3000 : at % 4); ++i) {
      test::write_file(top / name / "x" / ("f" + std::to_string(i)), name + "/" + std::to_string(i));
    }
  }
  test::write_file(top / "locked", "not for everyone");
  REQUIRE(::chmod((top / "locked").c_str(), 0) == 0);
  std::filesystem::create_symlink(top / "d1", top / "link");
  REQUIRE(::mkfifo((top / "fifo").c_str(), 0600) == 0);

  // What walk() reports, with each file's bytes as read from disk; the hook
  // leaves the files named f1 alone, and a file it cannot open (no
  // permission, unless the test runs as root) is visited without work.
  std::vector<std::string> expected;
  collectors::TreeWalker plain;
  plain.walk(
      root,
      [&](std::string_view path, const collectors::FileStat& stat) {
        const bool left_alone = path.ends_with("/f1") || (path.ends_with("locked") && ::geteuid() != 0);
        expected.push_back(std::string(path) + " " + std::to_string(stat.inode) + " " +
                           (left_alone ? "-" : test::read_file(root / path)));
      },
      [&](collectors::WalkProblem problem, std::string_view path) {
        expected.push_back(std::string(collectors::walk_problem_name(problem)) + " " + std::string(path));
      });
  REQUIRE(expected.size() == 3043 + 1 + 2);  // the d*/x/f*, locked, the link and the fifo

  for (const std::size_t helpers : {std::size_t{0}, std::size_t{2}}) {
    for (const std::size_t budget : {collectors::TreeWalker::default_split_budget, std::size_t{1024}}) {
      CAPTURE(helpers, budget);
      std::atomic<int> live{0};
      std::vector<std::string> events;
      collectors::TreeWalker walker;
      const collectors::WalkCounters counters = walker.walk_open(
          root,
          [&](int fd, std::string_view path, const collectors::FileStat& stat) -> std::unique_ptr<collectors::FileWork> {
            if (path.ends_with("/f1")) return nullptr;
            auto work = std::make_unique<ReadContent>(live);
            work->content.resize(stat.size);
            CHECK(::pread(fd, work->content.data(), stat.size, 0) == static_cast<ssize_t>(stat.size));
            return work;
          },
          [&](std::string_view path, const collectors::FileStat& stat, std::unique_ptr<collectors::FileWork> work) {
            events.push_back(std::string(path) + " " + std::to_string(stat.inode) + " " +
                             (work ? static_cast<ReadContent&>(*work).content : std::string("-")));
          },
          [&](collectors::WalkProblem problem, std::string_view path) {
            events.push_back(std::string(collectors::walk_problem_name(problem)) + " " + std::string(path));
          },
          helpers, budget);
      CHECK((events == expected));
      CHECK(counters.files == 3043 + 1);
      CHECK(live == 0);  // every work dropped once visited
    }
  }
}

TEST_CASE("a flag change is a rename: nothing read or sent again", "[collect]") {
  CollectFixture f;
  f.write(folder + name_1, hl7);
  const PassSummary first = f.pass();
  CHECK(first.added == 1);
  CHECK(first.objects == 1);

  std::filesystem::rename(f.root / (folder + name_1), f.root / (folder + name_2));
  const PassSummary second = f.pass();
  CHECK(second.renamed == 1);
  CHECK(second.added == 0);
  CHECK(second.deleted == 0);
  CHECK(second.content_bytes == 0);
  CHECK_FALSE(f.in_index(folder + name_1));
  CHECK(f.in_index(folder + name_2));

  const auto objects = f.objects();
  REQUIRE(objects.size() == 2);
  CHECK(objects[1].files.size() == 1);  // the manifest alone
  CHECK_THAT(objects[1].manifest,
             Catch::Contains("\"path\":\"" + folder + name_2 + "\"") &&
                 Catch::Contains("\"change\":\"rename\",\"from\":\"" + folder + name_1 + "\""));
}

TEST_CASE("a copy under a new name with the original removed is a rename by content", "[collect]") {
  CollectFixture f;
  f.write(folder + name_1, hl7);
  (void)f.pass();
  std::filesystem::copy_file(f.root / (folder + name_1), f.root / (folder + name_2));
  std::filesystem::remove(f.root / (folder + name_1));
  const PassSummary second = f.pass();
  CHECK(second.renamed == 1);
  CHECK(second.deleted == 0);
  const auto objects = f.objects();
  REQUIRE(objects.size() == 2);
  CHECK(objects[1].files.size() == 1);  // the manifest alone
  CHECK_THAT(objects[1].manifest, Catch::Contains("\"change\":\"rename\""));
}

TEST_CASE("an edit is sent even when the writer restored the mtime, but a touch is not", "[collect]") {
  CollectFixture f;
  f.write(folder + name_1, hl7);
  f.write(folder + name_2, hl7 + "\r");
  (void)f.pass();
  const auto file = f.root / (folder + name_1);
  struct stat before {};
  REQUIRE(::stat(file.c_str(), &before) == 0);
  std::string edited = hl7;
  edited[edited.size() - 3] = 'X';  // same size
  test::write_file(file, edited);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);  // the ctime still moves

  const auto touched = f.root / (folder + name_2);
  const timespec old_times[2] = {{1000, 0}, {1000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, touched.c_str(), old_times, 0) == 0);

  const PassSummary second = f.pass();
  CHECK(second.modified == 1);
  CHECK(second.metadata_only == 1);
  CHECK(second.objects == 1);
  const auto objects = f.objects();
  REQUIRE(objects.size() == 2);
  CHECK(objects[1].files.at("ssmix2/" + folder + name_1) == edited);
  CHECK(objects[1].files.size() == 2);  // with the manifest
  CHECK_THAT(objects[1].manifest, Catch::Contains("\"changes\":\"M\""));

  const PassSummary third = f.pass();
  CHECK(third.unchanged == 2);
  CHECK(third.objects == 0);
}

TEST_CASE("a file is read only once it is settle old", "[collect]") {
  CollectFixture f;
  f.settings.settle = 30s;
  f.write(folder + name_1, hl7);
  const PassSummary early = f.pass();
  CHECK(early.waiting == 1);
  CHECK(early.objects == 0);
  CHECK(f.indexed() == 0);

  f.later += 31s;
  const PassSummary later = f.pass();
  CHECK(later.waiting == 0);
  CHECK(later.added == 1);
}

TEST_CASE("a deletion waits while a file of the same size is still settling", "[collect]") {
  CollectFixture f;
  f.write(folder + name_1, hl7);
  (void)f.pass();
  f.settings.settle = 30s;
  std::filesystem::remove(f.root / (folder + name_1));
  std::string other = hl7;
  other[5] = 'x';  // same size, other content
  f.write(folder + name_2, other);
  const PassSummary first = f.pass();
  CHECK(first.waiting == 1);
  CHECK(first.deletes_deferred == 1);
  CHECK(first.deleted == 0);
  CHECK(f.in_index(folder + name_1));

  f.later += 31s;
  const PassSummary second = f.pass();
  CHECK(second.added == 1);
  CHECK(second.deleted == 1);
  CHECK_FALSE(f.in_index(folder + name_1));
}

TEST_CASE("most of a source vanishing at once is not believed until confirmed", "[collect]") {
  CollectFixture f;
  for (int i = 0; i < 200; ++i) f.write("999/901/9999013/-/ADT-00/f" + std::to_string(1000 + i), "content " + std::to_string(i));
  CHECK(f.pass().added == 200);
  for (int i = 0; i < 150; ++i) std::filesystem::remove(f.root / ("999/901/9999013/-/ADT-00/f" + std::to_string(1000 + i)));

  const PassSummary withheld = f.pass();
  CHECK(withheld.deletes_withheld);
  CHECK(withheld.deleted == 0);
  CHECK(withheld.deletes_deferred == 150);
  CHECK(f.indexed() == 200);
  CHECK(f.capture->contains("collect.mass_vanish"));

  f.settings.accept_mass_deletion = true;
  const PassSummary accepted = f.pass();
  CHECK(accepted.deleted == 150);
  CHECK(f.indexed() == 50);
}

TEST_CASE("an empty source folder where files were collected is an error, recorded for status", "[collect]") {
  CollectFixture f;
  f.write(folder + name_1, hl7);
  (void)f.pass();
  std::filesystem::remove_all(f.root);
  std::filesystem::create_directory(f.root);  // an unmounted share's mount point
  CHECK_THROWS_AS(f.pass(), collectors::CollectionError);
  CHECK(f.indexed() == 1);
  base::Statement query = f.db().prepare("SELECT outcome, line FROM source_passes WHERE source = 'ssmix2'");
  REQUIRE(query.step());
  CHECK(query.column_text(0) == "failed");
  CHECK_THAT(query.column_text(1), Catch::Contains("is the share mounted?"));

  std::filesystem::remove_all(f.root);
  CHECK_THROWS_WITH(f.pass(), Catch::Contains("is not a folder"));
}

TEST_CASE("a full spool pauses the pass, and the next pass resumes where it stopped", "[collect]") {
  CollectFixture f;
  f.settings.object_target = 4096;
  std::mt19937 random(5);
  for (int i = 0; i < 40; ++i) {
    std::string content(1500, '\0');
    for (char& c : content) c = static_cast<char>(random());
    f.write("999/901/9999013/-/ADT-00/f" + std::to_string(100 + i), content);
  }
  // The spool reserves 64 KiB of headroom per object it builds: this leaves
  // room for a few objects of about 3 KiB (random bytes do not compress).
  f.set_limits({80'000, 0});
  const PassSummary paused = f.pass();
  CHECK(paused.paused);
  CHECK(paused.objects >= 1);
  CHECK(paused.objects < 20);
  const auto committed_files = f.indexed();
  CHECK(committed_files > 0);
  CHECK(committed_files < 40);
  base::Statement query = f.db().prepare("SELECT outcome FROM source_passes WHERE source = 'ssmix2'");
  REQUIRE(query.step());
  CHECK(query.column_text(0) == "paused");

  f.set_limits({1ULL << 40, 0});
  const PassSummary resumed = f.pass();
  CHECK_FALSE(resumed.paused);
  CHECK(static_cast<std::int64_t>(resumed.added) == 40 - committed_files);
  CHECK(f.indexed() == 40);
  std::size_t sent = 0;
  for (const auto& object : f.objects()) sent += object.files.size() - 1;  // not the manifest
  CHECK(sent == 40);  // each file exactly once
}

TEST_CASE("a large file gets an object of its own, streamed", "[collect]") {
  CollectFixture f;
  f.settings.in_memory_limit = 1000;
  std::string large(5000, 'L');
  f.write(folder + name_1, hl7);
  f.write(folder + name_2, large);
  const PassSummary summary = f.pass();
  CHECK(summary.added == 2);
  CHECK(summary.objects == 2);
  std::map<std::string, std::string> files;
  for (const auto& object : f.objects()) files.insert(object.files.begin(), object.files.end());
  CHECK(files.at("ssmix2/" + folder + name_2) == large);
  CHECK(files.at("ssmix2/" + folder + name_1) == hl7);
}

TEST_CASE("large files read ahead keep few compressed copies waiting", "[collect][spill]") {
  // Each large file read keeps its compressed copy, an unlinked file in the
  // spool folder, until its object is built: a page of 512 of them read
  // ahead at once would hold 512 descriptors (and their disk).
  CollectFixture f;
  f.settings.in_memory_limit = 1000;
  constexpr int files = 1100;  // three pages
  for (int i = 0; i < files; ++i) {
    f.write("999/901/9999013/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_" + std::to_string(i),
            std::string(2000, static_cast<char>('a' + i % 26)));
  }
  std::size_t most = 0;
  CollectionPass collection(
      f.state(), f.spool(), f.profile, f.settings, f.tagger, capture_logger(f.capture, "collect"),
      [&f] { return std::chrono::system_clock::now() + f.later; },
      [&](const PassSummary&) {
        std::size_t spills = 0;
        for (const auto& item : std::filesystem::directory_iterator("/proc/self/fd")) {
          std::error_code error;
          const std::string target = std::filesystem::read_symlink(item.path(), error).string();
          if (!error && target.starts_with(f.spool_dir().string() + "/") && target.ends_with("(deleted)")) ++spills;
        }
        most = std::max(most, spills);
      });
  const PassSummary summary = collection.run();
  CHECK(summary.added == files);
  // A first pass: the walk's four read ahead of their turn, and the one at
  // its turn; without a cap it would be hundreds.
  CHECK(most > 0);
  CHECK(most <= 6);

  // A later pass reads the changed ones ahead itself: four of the page in
  // hand, four of each of the two read while it is handled.
  for (int i = 0; i < files; ++i) {
    f.write("999/901/9999013/-/ADT-00/9999013_-_ADT-00_999999999999999_20111220224447339_-_" + std::to_string(i),
            std::string(2001, static_cast<char>('a' + i % 26)));
  }
  most = 0;
  const PassSummary changed = collection.run();
  CHECK(changed.modified == files);
  CHECK(most > 0);
  CHECK(most <= 12);
}

TEST_CASE("non-UTF-8 names and problems are collected, flagged, and logged without patient data", "[collect]") {
  CollectFixture f;
  f.write("999/901/9999013/-/ADT-00/\xff\xfe-junk", "not hl7");
  f.write(folder + name_1, hl7 + "\xfb\xfc");
  f.write("999/901/9999013/20111220/OMG-01/9999013_20111220_OMG-01_000201101200100_20111220224447339_-_1", hl7);
  const PassSummary summary = f.pass();
  CHECK(summary.added == 3);
  CHECK(summary.anomalies[static_cast<std::size_t>(collectors::Anomaly::bad_file_name)] == 1);
  CHECK(summary.anomalies[static_cast<std::size_t>(collectors::Anomaly::encoding_invalid)] == 1);
  CHECK(summary.anomalies[static_cast<std::size_t>(collectors::Anomaly::message_type_unexpected)] == 1);
  const auto objects = f.objects();
  REQUIRE(objects.size() == 1);
  CHECK(objects[0].files.contains("ssmix2/999/901/9999013/-/ADT-00/\xff\xfe-junk"));  // its exact bytes
  const std::string log = f.capture->text();
  CHECK_THAT(log, Catch::Contains("collect.anomaly"));
  CHECK_THAT(log, Catch::Contains("pt:"));
  CHECK_THAT(log, !Catch::Contains("9999013"));
  CHECK_THAT(log, !Catch::Contains("ADT-00"));
}

}  // namespace
}  // namespace medgw
