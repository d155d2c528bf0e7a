#include <tests/integration/spool_fixture.hpp>
#include <tests/support/object_reader.hpp>

#include <crypto/age.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

using namespace medgw;
using namespace medgw::spool;
using test::entry_for;

namespace {

std::filesystem::path make_file(const test::TempDir& dir, const std::string& name, const std::string& content) {
  const auto path = dir / ("src/" + name);
  test::write_file(path, content);
  return path;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (char& c : out) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = static_cast<char>(state & 0xFF);
  }
  return out;
}

}  // namespace

TEST_CASE("an object holds MANIFEST.json first, then the files, and is signed", "[spool]") {
  test::SpoolFixture fixture;
  const std::string hl7 = "MSH|^~\\&|A\rPID|1||x\r";
  const std::string big = random_bytes(300'000, 1);
  const std::string japanese = "拡張/^（退院時サマリー）^^18842-5/document.xml";
  const std::string binary_name = std::string("odd/name-\xff\xfe.bin");
  std::vector<ObjectEntry> entries{
      entry_for(make_file(fixture.dir, "a", hl7), "ssmix2", "999/901/9999013/-/ADT-00/a_1"),
      entry_for(make_file(fixture.dir, "b", big), "dpc", "202603/EFn_131234567_2603.txt"),
      entry_for(make_file(fixture.dir, "c", "<xml/>"), "ssmix2", japanese),
      entry_for(make_file(fixture.dir, "d", ""), "receipt", binary_name),
  };
  ObjectEntry renamed = entries[0];
  renamed.change = Change::rename;
  renamed.from = "999/901/9999013/-/ADT-00/a_1";
  renamed.path = "999/901/9999013/-/ADT-00/a_2";
  entries.push_back(renamed);
  ObjectEntry removed = entries[0];
  removed.change = Change::remove;
  removed.path = "999/901/9999013/-/ADT-00/gone_0";
  entries.push_back(removed);
  entries[0].meta_json = R"({"patient":"pt:00000000","type":"ADT-00"})";

  const BuildOutcome outcome = fixture.spool().build(entries);
  INFO(outcome.message);
  REQUIRE(outcome.committed());
  const CommittedObject& object = *outcome.object;
  CHECK(object.seq == 1);
  CHECK(object.entries == 6);
  CHECK(object.content_bytes == hl7.size() + big.size() + 6);

  const auto file = fixture.spool_dir() / object.file_name;
  CHECK(std::filesystem::file_size(file) == object.size);
  CHECK(base::to_hex(crypto::sha256(base::as_bytes(test::read_file(file)))) == object.sha256);
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::others_all) == std::filesystem::perms::none);

  const test::ObjectContent content = test::read_object(file, fixture.central);
  REQUIRE(content.names.size() == 5);
  CHECK(content.names[0] == "MANIFEST.json");
  CHECK(content.files.at("ssmix2/999/901/9999013/-/ADT-00/a_1") == hl7);
  CHECK(content.files.at("dpc/202603/EFn_131234567_2603.txt") == big);
  CHECK(content.files.at("ssmix2/" + japanese) == "<xml/>");
  CHECK(content.files.at("receipt/" + binary_name).empty());
  const std::string& manifest = content.manifest;
  CHECK_THAT(manifest, Catch::StartsWith("{\"format\":\"medgw-object/2\",\"facility\":\"131234567\",\"gateway\":\""));
  CHECK_THAT(manifest, Catch::Contains("\"object_id\":\"" + object.object_id + "\",\"seq\":1,\"created\":\""));
  CHECK_THAT(manifest, Catch::Contains("\"change\":\"rename\",\"from\":\"999/901/9999013/-/ADT-00/a_1\""));
  CHECK_THAT(manifest, Catch::Contains("\"change\":\"delete\""));
  // medgw-object/2: a letter per entry; the files with content are only
  // their members (names, sizes), their meta in member order.
  CHECK_THAT(manifest, Catch::Contains("\"changes\":\"AAAARD\",\"content_bytes\":" +
                                       std::to_string(object.content_bytes) + ",\"meta\":[{\"patient\":\"pt:00000000\",\"type\":\"ADT-00\"},{},{},{}]"));
  CHECK_THAT(manifest, !Catch::Contains("\"path\":\"" + japanese + "\""));
  CHECK_THAT(manifest, !Catch::Contains("EFn_131234567_2603.txt"));
  CHECK(std::find(content.names.begin(), content.names.end(), "receipt/" + binary_name) != content.names.end());

  base::Statement row = fixture.db().prepare("SELECT signature, state FROM objects WHERE seq = 1");
  REQUIRE(row.step());
  const auto signature = row.column_blob(0);
  REQUIRE(signature.size() == 64);
  crypto::Ed25519Signature sig{};
  std::copy(signature.begin(), signature.end(), sig.begin());
  const std::string statement = crypto::object_statement(object.object_id, 1, "131234567", object.sha256);
  CHECK(crypto::verify_signature(fixture.signer.public_key(), base::as_bytes(statement), sig));
  CHECK(row.column_text(1) == "ready");
  CHECK(fixture.capture->contains("event=spool.object_committed"));
}

TEST_CASE("queue states: ready, uploading, retry, rejected, delivered", "[spool]") {
  test::SpoolFixture fixture;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto outcome = fixture.spool().build(std::vector{entry_for(make_file(fixture.dir, "f" + std::to_string(i), "x" + std::to_string(i)), "s", "f" + std::to_string(i))});
    REQUIRE(outcome.committed());
    ids.push_back(outcome.object->object_id);
  }
  auto due = fixture.spool().due(10);
  REQUIRE(due.size() == 3);
  CHECK(due[0].seq == 1);
  CHECK(due[2].seq == 3);

  fixture.spool().mark_uploading(ids[0], "https://c.example.jp/files/abc");
  fixture.spool().record_offset(ids[0], 4096);
  due = fixture.spool().due(10);
  CHECK(due[0].upload_url == "https://c.example.jp/files/abc");
  CHECK(due[0].upload_offset == 4096);
  CHECK(due[0].attempts == 1);

  fixture.spool().record_failure(ids[1], "HTTP 503", fixture.now + std::chrono::minutes(5));
  CHECK(fixture.spool().due(10).size() == 2);  // ids[1] waits
  fixture.now += std::chrono::minutes(6);
  CHECK(fixture.spool().due(10).size() == 3);

  fixture.spool().mark_rejected(ids[2], "HTTP 400: bad metadata");
  CHECK(fixture.spool().due(10).size() == 2);
  CHECK(fixture.capture->contains("event=spool.object_rejected"));

  const auto file = fixture.spool_dir() / fixture.db().query_text("SELECT file_name FROM objects WHERE seq = 1").value();
  REQUIRE(std::filesystem::exists(file));
  fixture.spool().mark_delivered(ids[0], R"({"object_id":"x"})");
  CHECK_FALSE(std::filesystem::exists(file));
  CHECK(fixture.db().query_int64("SELECT count(*) FROM delivered_objects") == 1);
  CHECK(fixture.db().query_text("SELECT receipt FROM delivered_objects") == R"({"object_id":"x"})");
  fixture.spool().mark_delivered(ids[0], "");  // twice is harmless

  const SpoolStats stats = fixture.spool().stats();
  CHECK(stats.ready_objects == 1);
  CHECK(stats.rejected_objects == 1);
  CHECK(stats.delivered_objects == 1);
  CHECK(stats.delivered_bytes > 0);
  CHECK(stats.last_delivered_ms.has_value());

  fixture.now += Spool::history_retention + std::chrono::hours(1);
  CHECK(fixture.spool().prune_history() == 1);
  CHECK(fixture.spool().stats().delivered_objects == 1);  // totals survive pruning
}

TEST_CASE("a batch of queue updates commits as one, and its files go only after a flushed commit", "[spool]") {
  test::SpoolFixture fixture;
  std::vector<std::string> ids;
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 3; ++i) {
    auto outcome = fixture.spool().build(std::vector{entry_for(make_file(fixture.dir, "b" + std::to_string(i), "y" + std::to_string(i)), "s", "b" + std::to_string(i))});
    REQUIRE(outcome.committed());
    ids.push_back(outcome.object->object_id);
    files.push_back(fixture.spool_dir() / outcome.object->file_name);
  }
  {
    // Not committed (a crash, or a failure in the turn): nothing of it holds.
    Spool::Batch batch(fixture.spool());
    fixture.spool().mark_uploading(ids[0], "https://c.example.jp/files/a");
    fixture.spool().mark_delivered(ids[1], "");
    CHECK(std::filesystem::exists(files[1]));  // not before the commit
  }
  CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == 3);
  CHECK(fixture.db().query_int64("SELECT count(*) FROM delivered_objects") == 0);
  CHECK(fixture.spool().due(10)[0].upload_url.empty());
  CHECK(std::filesystem::exists(files[1]));

  {
    Spool::Batch batch(fixture.spool());
    fixture.spool().mark_uploading(ids[0], "https://c.example.jp/files/a");
    fixture.spool().mark_delivered(ids[1], "");
    fixture.spool().mark_rejected(ids[2], "HTTP 400");
    CHECK(std::filesystem::exists(files[1]));
    // Not flushed: nothing waits for one yet.
    CHECK(fixture.db().query_int64("PRAGMA synchronous") == 1);  // NORMAL
    batch.commit();
  }
  CHECK(fixture.db().query_int64("PRAGMA synchronous") == 2);  // FULL again outside batches
  // Recorded, but the file stays until a flushed commit holds the delivery.
  CHECK(std::filesystem::exists(files[1]));
  CHECK(fixture.db().query_int64("SELECT count(*) FROM delivered_objects") == 1);
  fixture.spool().sync_deliveries();
  CHECK_FALSE(std::filesystem::exists(files[1]));
  CHECK(fixture.db().query_int64("SELECT value FROM spool_counters WHERE name = 'delivery_flushes'") == 1);
  CHECK(std::filesystem::exists(files[0]));
  CHECK(fixture.spool().due(10).size() == 1);
  CHECK(fixture.spool().due(10)[0].upload_url == "https://c.example.jp/files/a");
  // Outside a batch, each update commits on its own again (flushed).
  fixture.spool().mark_delivered(ids[0], "");
  CHECK_FALSE(std::filesystem::exists(files[0]));
}

TEST_CASE("files of delivered objects wait for at most removals_per_flush deliveries", "[spool]") {
  test::SpoolFixture fixture;
  std::vector<std::pair<std::string, std::filesystem::path>> objects;
  for (std::size_t i = 0; i <= Spool::removals_per_flush; ++i) {
    const std::string name = "n" + std::to_string(i);
    auto outcome = fixture.spool().build(std::vector{entry_for(make_file(fixture.dir, name, name), "s", name)});
    REQUIRE(outcome.committed());
    objects.emplace_back(outcome.object->object_id, fixture.spool_dir() / outcome.object->file_name);
  }
  // One delivery a batch, as a slow uploader would: none flushed yet.
  for (std::size_t i = 0; i < Spool::removals_per_flush; ++i) {
    Spool::Batch batch(fixture.spool());
    fixture.spool().mark_delivered(objects[i].first, "");
    batch.commit();
  }
  CHECK(std::filesystem::exists(objects.front().second));
  CHECK(std::filesystem::exists(objects[Spool::removals_per_flush - 1].second));
  {
    // Enough wait: this batch is flushed, and they go after it with the
    // batch's own delivery.
    Spool::Batch batch(fixture.spool());
    CHECK(fixture.db().query_int64("PRAGMA synchronous") == 2);
    fixture.spool().mark_delivered(objects.back().first, "");
    batch.commit();
  }
  CHECK_FALSE(std::filesystem::exists(objects.front().second));
  CHECK_FALSE(std::filesystem::exists(objects.back().second));
  CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == 0);
  CHECK(fixture.db().query_int64("SELECT value FROM spool_counters WHERE name = 'delivery_flushes'") == 1);
  fixture.spool().sync_deliveries();  // nothing waits: no flush
  CHECK(fixture.db().query_int64("SELECT value FROM spool_counters WHERE name = 'delivery_flushes'") == 1);
}

TEST_CASE("seq has no gaps across restarts and failed builds", "[spool]") {
  test::SpoolFixture fixture;
  const auto good = make_file(fixture.dir, "good", "content");
  for (int i = 0; i < 3; ++i) REQUIRE(fixture.spool().build(std::vector{entry_for(good, "s", "p")}).committed());

  auto changed = entry_for(good, "s", "p");
  changed.sha256 = std::string(64, '0');
  const BuildOutcome failed = fixture.spool().build(std::vector{entry_for(good, "s", "ok"), changed});
  CHECK(failed.status == BuildStatus::source_changed);
  CHECK(failed.entry == 1);
  CHECK(failed.message.find("src/good") == std::string::npos);  // no path in messages

  auto vanished = entry_for(good, "s", "p");
  vanished.file = fixture.dir / "src/missing";
  CHECK(fixture.spool().build(std::vector{vanished}).status == BuildStatus::source_unreadable);

  fixture.close();
  fixture.open();
  (void)fixture.spool().recover();
  for (int i = 0; i < 2; ++i) REQUIRE(fixture.spool().build(std::vector{entry_for(good, "s", "p")}).committed());
  std::vector<std::int64_t> seqs;
  base::Statement query = fixture.db().prepare("SELECT seq FROM objects ORDER BY seq");
  while (query.step()) seqs.push_back(query.column_int64(0));
  CHECK(seqs == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  // Failed builds left nothing behind.
  std::size_t files = 0;
  for (const auto& item : std::filesystem::directory_iterator(fixture.spool_dir())) {
    CHECK(item.path().extension() == ".age");
    ++files;
  }
  CHECK(files == 5);
}

TEST_CASE("the collector's updates commit with the object or not at all", "[spool]") {
  test::SpoolFixture fixture;
  fixture.db().exec("CREATE TABLE test_index (path TEXT, seq INTEGER)");
  const auto file = make_file(fixture.dir, "f", "data");
  auto record = [](base::Database& db, const CommittedObject& object) {
    db.prepare("INSERT INTO test_index VALUES ('p', ?1)").bind_all(object.seq).run();
  };
  REQUIRE(fixture.spool().build(std::vector{entry_for(file, "s", "p")}, record).committed());
  CHECK(fixture.db().query_int64("SELECT seq FROM test_index") == 1);

  auto failing = [](base::Database& db, const CommittedObject&) {
    db.exec("INSERT INTO test_index VALUES ('q', 2)");
    throw std::runtime_error("collector failed");
  };
  CHECK_THROWS_WITH(fixture.spool().build(std::vector{entry_for(file, "s", "q")}, failing), "collector failed");
  CHECK(fixture.db().query_int64("SELECT count(*) FROM test_index") == 1);
  CHECK(fixture.db().query_int64("SELECT count(*) FROM objects") == 1);
  CHECK(fixture.db().query_int64("SELECT next_seq FROM gateway") == 2);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& item : std::filesystem::directory_iterator(fixture.spool_dir())) ++files;
  CHECK(files == 1);
}

TEST_CASE("capacity: a full spool or a low disk refuses new objects and keeps the old ones", "[spool]") {
  SECTION("spool.max_bytes") {
    test::SpoolFixture fixture({200'000, 0});
    const auto file = make_file(fixture.dir, "f", random_bytes(60'000, 2));
    REQUIRE(fixture.spool().build(std::vector{entry_for(file, "s", "1")}).committed());
    REQUIRE(fixture.spool().build(std::vector{entry_for(file, "s", "2")}).committed());
    const BuildOutcome refused = fixture.spool().build(std::vector{entry_for(file, "s", "3")});
    CHECK(refused.status == BuildStatus::spool_full);
    CHECK(fixture.spool().stats().ready_objects == 2);
    // Delivery frees room.
    fixture.spool().mark_delivered(fixture.spool().due(1)[0].object_id, "");
    CHECK(fixture.spool().build(std::vector{entry_for(file, "s", "3")}).committed());
  }
  SECTION("an object larger than spool.max_bytes by itself waits for an empty spool, then goes in alone") {
    test::SpoolFixture fixture({100'000, 0});
    const auto small = make_file(fixture.dir, "small", random_bytes(20'000, 4));
    const auto large = make_file(fixture.dir, "large", random_bytes(150'000, 5));
    REQUIRE(fixture.spool().build(std::vector{entry_for(small, "s", "1")}).committed());
    CHECK(fixture.spool().build(std::vector{entry_for(large, "s", "2")}).status == BuildStatus::spool_full);
    fixture.spool().mark_delivered(fixture.spool().due(1)[0].object_id, "");
    REQUIRE(fixture.spool().build(std::vector{entry_for(large, "s", "2")}).committed());
    // Over the limit now: reads as full, nothing else gets in until it is delivered.
    CHECK(fixture.spool().stats().capacity == Capacity::spool_full);
    CHECK(fixture.spool().build(std::vector{entry_for(small, "s", "3")}).status == BuildStatus::spool_full);
    fixture.spool().mark_delivered(fixture.spool().due(1)[0].object_id, "");
    CHECK(fixture.spool().build(std::vector{entry_for(small, "s", "3")}).committed());
  }
  SECTION("spool.min_free") {
    test::SpoolFixture fixture({1ULL << 40, 1ULL << 60});
    const auto file = make_file(fixture.dir, "f", "x");
    const BuildOutcome refused = fixture.spool().build(std::vector{entry_for(file, "s", "1")});
    CHECK(refused.status == BuildStatus::disk_low);
    CHECK(fixture.spool().stats().capacity == Capacity::disk_low);
    CHECK(fixture.db().query_int64("SELECT next_seq FROM gateway") == 1);
  }
}

TEST_CASE("a reloaded configuration: new limits and recipients apply from the next object on", "[spool]") {
  test::SpoolFixture fixture;
  const auto file = make_file(fixture.dir, "f", random_bytes(50'000, 6));
  const BuildOutcome first = fixture.spool().build(std::vector{entry_for(file, "s", "1")});
  REQUIRE(first.committed());
  const crypto::X25519Identity escrow = crypto::generate_identity();
  fixture.spool().set_recipients({fixture.central.public_key, escrow.public_key});
  const BuildOutcome second = fixture.spool().build(std::vector{entry_for(file, "s", "2")});
  REQUIRE(second.committed());
  auto opens_with = [&](const CommittedObject& object, const crypto::X25519Identity& identity) {
    crypto::age::Identities identities;
    identities.x25519.push_back(crypto::X25519Identity{identity.secret, identity.public_key});
    const std::string bytes = test::read_file(fixture.spool_dir() / object.file_name);
    return !crypto::age::decrypt(base::as_bytes(bytes), identities).failure;
  };
  CHECK(opens_with(*first.object, fixture.central));
  CHECK_FALSE(opens_with(*first.object, escrow));
  CHECK(opens_with(*second.object, fixture.central));
  CHECK(opens_with(*second.object, escrow));
  CHECK_THROWS_AS(fixture.spool().set_recipients({}), std::invalid_argument);

  fixture.spool().set_limits({first.object->size + second.object->size + 1000, 0});
  CHECK(fixture.spool().stats().limits.max_bytes == first.object->size + second.object->size + 1000);
  CHECK(fixture.spool().build(std::vector{entry_for(file, "s", "3")}).status == BuildStatus::spool_full);
}

TEST_CASE("recovery: temporary files, orphans, lost and damaged objects, interrupted uploads", "[spool]") {
  test::SpoolFixture fixture;
  const auto file = make_file(fixture.dir, "f", random_bytes(5000, 3));
  std::vector<CommittedObject> objects;
  for (int i = 0; i < 4; ++i) objects.push_back(*fixture.spool().build(std::vector{entry_for(file, "s", "p")}).object);
  fixture.spool().mark_uploading(objects[3].object_id, "https://c.example.jp/files/u");

  const auto dir = fixture.spool_dir();
  test::write_file(dir / ".000000000009-x.age.tmp-0011223344556677", "half an object");
  test::write_file(dir / "000000000010-0190b2d4-8f1e-7abc-9def-0123456789ab.age", "renamed, never committed");
  std::filesystem::remove(dir / objects[1].file_name);           // lost
  std::filesystem::resize_file(dir / objects[2].file_name, 10);  // damaged
  fixture.close();
  fixture.open();

  const RecoveryReport report = fixture.spool().recover();
  CHECK(report.temporary_files_removed == 1);
  CHECK(report.orphan_files_removed == 1);
  CHECK(report.objects_lost == 2);
  CHECK(report.uploads_reset == 1);
  CHECK_FALSE(std::filesystem::exists(dir / ".000000000009-x.age.tmp-0011223344556677"));
  CHECK_FALSE(std::filesystem::exists(dir / "000000000010-0190b2d4-8f1e-7abc-9def-0123456789ab.age"));
  CHECK(fixture.capture->contains("level=error component=spool event=spool.object_lost"));
  const SpoolStats stats = fixture.spool().stats();
  CHECK(stats.lost_objects == 2);
  CHECK(stats.ready_objects == 2);
  const auto due = fixture.spool().due(10);
  REQUIRE(due.size() == 2);
  CHECK(due[1].upload_url == "https://c.example.jp/files/u");  // kept for the resume
  // A second recovery finds nothing new.
  const RecoveryReport again = fixture.spool().recover();
  CHECK(again.objects_lost == 0);
  CHECK(fixture.spool().stats().lost_objects == 2);
}

TEST_CASE("only one process writes the state", "[spool]") {
  test::SpoolFixture fixture;
  CHECK_THROWS_WITH(StateDb::open(fixture.dir / "state", StateDb::Access::read_write, fixture.logger, test::schema()),
                    Catch::Contains("another medgw process is using"));
  CHECK_NOTHROW(StateDb::open(fixture.dir / "state", StateDb::Access::read_only, fixture.logger, test::schema()));
}
