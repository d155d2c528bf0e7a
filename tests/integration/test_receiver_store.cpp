// receiver.db and the completion step on real files (issue 14): two uploads
// of one object completing at the same time keep exactly one stored copy; a
// failed store step is undone; an existing schema-1 database is migrated in
// place and a newer one refused; landing states and the operator's retry;
// objects finishing together share their fsyncs and commit (issue 23).
#include <tests/support/test_support.hpp>

#include <receiver/completion.hpp>
#include <receiver/store.hpp>

#include <crypto/hash.hpp>
#include <crypto/signing.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/sqlite.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace medgw::receiver {
namespace {

std::string b64(std::string_view text) { return base::base64_encode(base::as_bytes(text), true); }

struct Fixture {
  test::TempDir dir;
  ReceiverConfig config;
  crypto::SigningKey gateway = crypto::SigningKey::generate();
  crypto::SigningKey receipts = crypto::SigningKey::generate();
  GatewaySignatures signatures;
  FacilityEntry facility;
  std::shared_ptr<test::LogCapture> log = std::make_shared<test::LogCapture>();

  Fixture() {
    config.data_dir = dir.path() / "data";
    std::filesystem::create_directories(config.data_dir / "uploads");
    std::filesystem::create_directories(config.data_dir / "store");
    facility.code = "131234567";
    facility.gateway_keys = {gateway.public_key()};
  }

  // An upload whose bytes are all in place.
  Upload upload(const std::string& id, const std::string& object_id, std::uint64_t seq, const std::string& content) {
    test::write_file(config.data_dir / "uploads" / (id + ".part"), content);
    const std::string sha = base::to_hex(crypto::sha256(base::as_bytes(content)));
    const auto sig = gateway.sign(base::as_bytes(crypto::object_statement(object_id, seq, facility.code, sha)));
    Upload upload;
    upload.id = id;
    upload.facility = facility.code;
    upload.length = content.size();
    upload.object_id = object_id;
    upload.seq = seq;
    upload.metadata = "object_id " + b64(object_id) + ",seq " + b64(std::to_string(seq)) + ",facility " +
                      b64(facility.code) + ",gateway " + b64("gw") + ",sha256 " + b64(sha) + ",sig " +
                      b64(base::base64_encode(sig, true));
    return upload;
  }
};

std::string upload_id(int n) {
  char text[33];
  std::snprintf(text, sizeof text, "%032x", n);
  return text;
}

std::string object_id(int n) {
  char text[37];
  std::snprintf(text, sizeof text, "0190f3a8-7c55-7ec4-9d8a-%012x", n);
  return text;
}

TEST_CASE("two uploads of one object completing at once keep exactly one stored copy", "[receiver][completion]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  for (int trial = 0; trial < 20; ++trial) {
    const std::string content(200'000 + trial, static_cast<char>('a' + trial % 26));
    const std::string id = object_id(trial + 1);
    const auto seq = static_cast<std::uint64_t>(trial + 1);
    std::array<Upload, 2> uploads{f.upload(upload_id(2 * trial + 1), id, seq, content),
                                  f.upload(upload_id(2 * trial + 2), id, seq, content)};
    for (const Upload& upload : uploads) store.add_upload(upload);
    std::array<CompletionResult, 2> results;
    std::barrier start(2);
    std::array<std::thread, 2> threads;
    for (std::size_t i = 0; i < 2; ++i) {
      threads[i] = std::thread([&, i] {
        start.arrive_and_wait();
        results[i] = completer.complete(uploads[i], f.facility, "");
        // Told to ask again: the winner has finished by then.
        for (int again = 0; again < 100 && results[i].outcome == Completed::busy; ++again) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          results[i] = completer.complete(uploads[i], f.facility, "");
        }
      });
    }
    for (auto& thread : threads) thread.join();
    INFO("trial " << trial);
    const int stored = (results[0].outcome == Completed::stored) + (results[1].outcome == Completed::stored);
    const int duplicates = (results[0].outcome == Completed::duplicate) + (results[1].outcome == Completed::duplicate);
    CHECK(stored == 1);
    CHECK(duplicates == 1);
    const auto object = store.object(id);
    REQUIRE(object.has_value());
    const auto file = f.config.data_dir / "store" / object->file;
    REQUIRE(std::filesystem::exists(file));
    CHECK(test::read_file(file) == content);
    CHECK_FALSE(std::filesystem::exists(f.config.data_dir / "uploads" / (uploads[0].id + ".part")));
    CHECK_FALSE(std::filesystem::exists(f.config.data_dir / "uploads" / (uploads[1].id + ".part")));
  }
  // Both uploads of each object are complete (HEAD: offset == length).
  for (const Upload& upload : store.uploads()) CHECK(upload.completed);
}

TEST_CASE("group commit: each item runs in a round begun after its caller asked, and errors are per item",
          "[receiver][completion]") {
  using Clock = std::chrono::steady_clock;
  constexpr int callers = 16;
  std::mutex mutex;
  std::map<int, Clock::time_point> ran_at;  // item -> start of the round that ran it
  GroupCommit<int> group([&](const std::vector<int>& items, std::vector<int>& errors) {
    const auto began = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow disk
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < items.size(); ++i) {
      ran_at[items[i]] = began;
      errors[i] = items[i] == 7 ? EIO : 0;
    }
  });
  std::array<Clock::time_point, callers> asked{};
  std::array<int, callers> results{};
  std::barrier start(callers);
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      std::this_thread::sleep_for(std::chrono::milliseconds(i % 4 * 7));  // some arrive mid-round
      asked[static_cast<std::size_t>(i)] = Clock::now();
      results[static_cast<std::size_t>(i)] = group.submit({i});
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(ran_at.size() == callers);
  for (int i = 0; i < callers; ++i) {
    INFO("caller " << i);
    CHECK(ran_at[i] >= asked[static_cast<std::size_t>(i)]);  // never covered by a round already running
    CHECK(results[static_cast<std::size_t>(i)] == (i == 7 ? EIO : 0));
  }
  // 16 callers within ~21 ms, rounds of 20 ms: a handful of rounds, not 16.
  CHECK(group.rounds() <= 8);
}

TEST_CASE("group commit: no caller is left waiting when rounds end back to back", "[receiver][completion]") {
  // Each caller waits on its own round; the end of a round wakes that round's
  // callers and one caller of the next. A lost wake-up hangs this test.
  constexpr int callers = 24;
  constexpr int submits = 300;
  std::atomic<int> ran{0};
  GroupCommit<int> group([&](const std::vector<int>& items, std::vector<int>& errors) {
    ran += static_cast<int>(items.size());
    errors.assign(items.size(), 0);
  });
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < submits; ++i) {
        if (group.submit({i}) != 0) ++failed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failed == 0);
  CHECK(ran == callers * submits);
}

TEST_CASE("group commit: callers gathered during a round run the next one when it ends", "[receiver][completion]") {
  // Eight callers arrive while the first round runs and nobody comes after
  // them: the end of the first round must hand the next one to one of them.
  std::promise<void> began;
  std::future<void> first_began = began.get_future();
  std::atomic<int> rounds_run{0};
  GroupCommit<int> group([&](const std::vector<int>& items, std::vector<int>& errors) {
    if (rounds_run++ == 0) {
      began.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the others gather meanwhile
    }
    errors.assign(items.size(), 0);
  });
  std::thread first([&] { CHECK(group.submit({0}) == 0); });
  first_began.wait();
  std::vector<std::future<int>> others;
  for (int i = 1; i <= 8; ++i) others.push_back(std::async(std::launch::async, [&group, i] { return group.submit({i}); }));
  for (auto& other : others) {
    if (other.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      // They would wait for ever: fail now rather than at ctest's timeout.
      FAIL_CHECK("callers of the next round were left waiting");
      std::_Exit(1);
    }
    CHECK(other.get() == 0);
  }
  first.join();
  CHECK(rounds_run >= 2);
}

TEST_CASE("objects completing together are all stored, sharing fsync rounds and commits", "[receiver][completion]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  constexpr int objects = 24;
  std::vector<Upload> uploads;
  for (int i = 0; i < objects; ++i) {
    uploads.push_back(f.upload(upload_id(500 + i), object_id(500 + i), static_cast<std::uint64_t>(500 + i),
                               "object " + std::to_string(i)));
    store.add_upload(uploads.back());
  }
  std::barrier start(8);
  std::vector<std::thread> threads;
  std::array<int, objects> outcomes{};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = t; i < objects; i += 8) {
        outcomes[static_cast<std::size_t>(i)] =
            static_cast<int>(completer.complete(uploads[static_cast<std::size_t>(i)], f.facility, "").outcome);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < objects; ++i) {
    INFO("object " << i);
    CHECK(outcomes[static_cast<std::size_t>(i)] == static_cast<int>(Completed::stored));
    const auto object = store.object(object_id(500 + i));
    REQUIRE(object.has_value());
    CHECK(test::read_file(f.config.data_dir / "store" / object->file) == "object " + std::to_string(i));
  }
  for (const Upload& upload : store.uploads()) CHECK(upload.completed);
}

TEST_CASE("finish_objects: a lost claim fails only its own object", "[receiver][store]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  std::vector<Store::Finish> finishes;
  for (int i = 0; i < 3; ++i) {
    const Upload upload = f.upload(upload_id(900 + i), object_id(900 + i), static_cast<std::uint64_t>(900 + i), "x");
    store.add_upload(upload);
    StoredObject object;
    object.object_id = upload.object_id;
    object.facility = upload.facility;
    object.seq = upload.seq;
    object.sha256 = std::string(64, 'a');
    object.file = "f" + std::to_string(i);
    REQUIRE(store.claim_object(object, 1, 0, upload.id, [](std::string_view) { return false; }) == Claim::claimed);
    finishes.push_back({upload.object_id, i == 1 ? upload_id(999) : upload.id});  // the second: not its owner
  }
  std::vector<int> errors(finishes.size(), 0);
  store.finish_objects(finishes, errors);
  CHECK(errors == std::vector<int>{0, ENOENT, 0});
  CHECK(store.storing_claims().size() == 1);
}

TEST_CASE("a traversal object_id never reaches a path, even from the database", "[receiver][completion]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  const Upload upload = f.upload(upload_id(1), "/../../../../../../../../tmp/xxxxxxx", 1, "bytes");
  store.add_upload(upload);
  const CompletionResult result = completer.complete(upload, f.facility, "");
  CHECK(result.outcome == Completed::refused);
  CHECK_FALSE(std::filesystem::exists("/tmp/xxxxxxx.age"));
  CHECK(store.report().empty());
}

TEST_CASE("a store step that fails is undone and the upload stays resumable", "[receiver][completion]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  const Upload upload = f.upload(upload_id(1), object_id(1), 1, "the object");
  store.add_upload(upload);
  // store/<facility> is a file: the rename cannot happen.
  test::write_file(f.config.data_dir / "store" / "131234567", "in the way");
  CompletionResult result = completer.complete(upload, f.facility, "");
  CHECK(result.outcome == Completed::failed);
  CHECK(std::filesystem::exists(f.config.data_dir / "uploads" / (upload.id + ".part")));
  CHECK_FALSE(store.object(object_id(1)).has_value());
  CHECK(f.log->contains("event=receiver.store_failed"));
  // Fixed: the same upload completes.
  std::filesystem::remove(f.config.data_dir / "store" / "131234567");
  result = completer.complete(upload, f.facility, "");
  CHECK(result.outcome == Completed::stored);
  CHECK(store.object(object_id(1)).has_value());
}

TEST_CASE("recovery after a crash between rename and commit gives the bytes back", "[receiver][completion]") {
  Fixture f;
  {
    Store store(f.config.data_dir / "receiver.db");
    const Upload upload = f.upload(upload_id(1), object_id(1), 1, "bytes");
    store.add_upload(upload);
    StoredObject object;
    object.object_id = object_id(1);
    object.facility = "131234567";
    object.seq = 1;
    object.sha256 = std::string(64, 'a');
    object.file = "131234567/1-" + object_id(1) + ".age";
    object.receipt_json = "{}";
    REQUIRE(store.claim_object(object, 5, 0, upload.id, [](std::string_view) { return false; }) == Claim::claimed);
    std::filesystem::create_directories(f.config.data_dir / "store" / "131234567");
    std::filesystem::rename(f.config.data_dir / "uploads" / (upload.id + ".part"), f.config.data_dir / "store" / object.file);
  }
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  completer.recover();
  CHECK(store.storing_claims().empty());
  CHECK(test::read_file(f.config.data_dir / "uploads" / (upload_id(1) + ".part")) == "bytes");
  CHECK_FALSE(store.object(object_id(1)).has_value());
  REQUIRE(store.uploads().size() == 1);
}

TEST_CASE("a schema-1 receiver.db is migrated in place, a newer one refused", "[receiver][store]") {
  test::TempDir dir;
  const auto file = dir.path() / "receiver.db";
  {
    auto db = base::Database::open(file, base::Database::Mode::read_write_create);
    db.exec(R"sql(
CREATE TABLE uploads (id TEXT PRIMARY KEY, facility TEXT NOT NULL, length INTEGER NOT NULL, offset INTEGER NOT NULL,
  metadata TEXT NOT NULL, expires_ms INTEGER NOT NULL) STRICT;
CREATE TABLE objects (object_id TEXT PRIMARY KEY, facility TEXT NOT NULL, seq INTEGER NOT NULL, sha256 TEXT NOT NULL,
  file TEXT NOT NULL, size INTEGER NOT NULL, received_ms INTEGER NOT NULL, receipt TEXT NOT NULL,
  landed INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE INDEX objects_by_seq ON objects (facility, seq);
CREATE TABLE landing (facility TEXT PRIMARY KEY, landed_through INTEGER NOT NULL) STRICT;
INSERT INTO uploads VALUES ('00000000000000000000000000000001', '131234567', 10, 4, 'object_id x', 99);
INSERT INTO objects VALUES ('a', '131234567', 1, 's', 'f1', 10, 1, '{}', 1);
INSERT INTO objects VALUES ('b', '131234567', 2, 's', 'f2', 10, 1, '{}', 0);
INSERT INTO landing VALUES ('131234567', 1);
PRAGMA user_version = 1;
)sql");
  }
  {
    Store store(file);
    const auto reports = store.report();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].objects == 2);
    CHECK(reports[0].landed_through == 1);
    CHECK(reports[0].open_uploads == 1);
    CHECK(store.object("a")->landing == LandingState::landed);
    CHECK(store.object("b")->landing == LandingState::pending);
    const auto next = store.next_to_land("131234567");
    REQUIRE(next.has_value());
    CHECK(next->seq == 2);
    const auto uploads = store.uploads();
    REQUIRE(uploads.size() == 1);
    CHECK(uploads[0].offset == 4);
    CHECK_FALSE(uploads[0].completed);
  }
  {
    auto db = base::Database::open(file, base::Database::Mode::read_write);
    CHECK(db.query_int64("PRAGMA user_version").value_or(0) == 3);
    db.exec("PRAGMA user_version = 99");
  }
  CHECK_THROWS_WITH(Store(file), Catch::Contains("newer medgw-receiver"));
}

TEST_CASE("landing states: quarantine, retry rewinds and replays, skip", "[receiver][store]") {
  test::TempDir dir;
  Store store(dir.path() / "receiver.db");
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    StoredObject object;
    object.object_id = object_id(static_cast<int>(seq));
    object.facility = "131234567";
    object.seq = seq;
    object.sha256 = std::string(64, 'a');
    object.file = "f";
    object.receipt_json = "{}";
    const std::string upload = upload_id(static_cast<int>(seq));
    REQUIRE(store.claim_object(object, 1, 0, upload, [](std::string_view) { return false; }) == Claim::claimed);
    store.finish_object(object.object_id, upload);
  }
  auto land = [&](LandingState state, std::string_view reason) {
    const auto next = store.next_to_land("131234567");
    REQUIRE(next.has_value());
    REQUIRE(store.record_landing(*next, state, reason, 1));
    return next->seq;
  };
  CHECK(land(LandingState::landed, "") == 1);
  CHECK(land(LandingState::quarantined, "member_unlisted") == 2);
  CHECK(land(LandingState::landed, "") == 3);
  CHECK(land(LandingState::landed, "") == 4);
  CHECK_FALSE(store.next_to_land("131234567").has_value());
  auto report = store.report()[0];
  CHECK(report.landed_through == 4);
  REQUIRE(report.quarantined.size() == 1);
  CHECK(report.quarantined[0].seq == 2);
  CHECK(report.quarantined[0].reason == "member_unlisted");

  CHECK_FALSE(store.retry_landing("131234567", 3, 2).ok());  // landed, not quarantined
  const auto again = store.retry_landing("131234567", 2, 2);
  REQUIRE(again.ok());
  CHECK(*again == 3);  // 2, then 3 and 4 again
  // A landing in progress for seq 4 when the retry came does not count.
  StoredObject stale;
  stale.object_id = object_id(4);
  stale.facility = "131234567";
  stale.seq = 4;
  CHECK_FALSE(store.record_landing(stale, LandingState::landed, "", 3));
  CHECK(land(LandingState::quarantined, "member_unlisted") == 2);
  CHECK(land(LandingState::landed, "") == 3);
  CHECK(land(LandingState::landed, "") == 4);
  REQUIRE(store.skip_landing("131234567", 2, 4).ok());
  CHECK_FALSE(store.skip_landing("131234567", 2, 4).ok());
  report = store.report()[0];
  CHECK(report.quarantined.empty());
  CHECK(report.skipped == 1);
}

TEST_CASE("a completion whose commit cannot be flushed is not confirmed, and the object stays stored",
          "[receiver][completion]") {
  Fixture f;
  Store store(f.config.data_dir / "receiver.db");
  Completer completer(f.config, store, f.receipts, f.signatures, test::capture_logger(f.log));
  const std::string content(1000, 'x');
  const Upload first = f.upload(upload_id(1), object_id(1), 1, content);
  store.add_upload(first);
  // The log's name now leads to a device that cannot be flushed (fdatasync:
  // EINVAL); SQLite keeps writing to the file it holds open.
  const auto wal = f.config.data_dir / "receiver.db-wal";
  REQUIRE(std::filesystem::exists(wal));
  std::filesystem::rename(wal, f.config.data_dir / "receiver.db-wal.kept");
  std::filesystem::create_symlink("/dev/null", wal);
  const CompletionResult failed = completer.complete(first, f.facility, "");
  CHECK(failed.outcome == Completed::failed);  // 503: the gateway keeps its copy
  CHECK(f.log->contains("event=receiver.store_failed"));
  // Committed, so not undone: the object is stored, its file in place.
  const auto object = store.object(object_id(1));
  REQUIRE(object.has_value());
  CHECK(test::read_file(f.config.data_dir / "store" / object->file) == content);
  CHECK(store.storing_claims().empty());
  // The gateway asks again (a new upload of the object): a duplicate, 204.
  std::filesystem::remove(wal);
  std::filesystem::rename(f.config.data_dir / "receiver.db-wal.kept", wal);
  const Upload again = f.upload(upload_id(2), object_id(1), 1, content);
  store.add_upload(again);
  CHECK(completer.complete(again, f.facility, "").outcome == Completed::duplicate);
  CHECK(test::read_file(f.config.data_dir / "store" / object->file) == content);
}

}  // namespace
}  // namespace medgw::receiver
