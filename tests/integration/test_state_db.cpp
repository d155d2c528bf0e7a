#include <tests/support/test_support.hpp>

#include <spool/state_db.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sys/stat.h>

using namespace medgw;
using namespace medgw::spool;

namespace {

log::Logger quiet_logger() { return test::capture_logger(std::make_shared<test::LogCapture>()); }

}  // namespace

TEST_CASE("a new state database gets WAL, FULL sync, incremental vacuum and the schema", "[statedb]") {
  test::TempDir dir;
  auto capture = std::make_shared<test::LogCapture>();
  StateDb state = StateDb::open(dir / "state", StateDb::Access::read_write, test::capture_logger(capture), spool_schema());
  base::Database& db = state.db();
  CHECK(db.query_text("PRAGMA journal_mode") == "wal");
  CHECK(db.query_int64("PRAGMA synchronous") == 2);   // FULL
  CHECK(db.query_int64("PRAGMA auto_vacuum") == 2);   // INCREMENTAL
  CHECK(db.query_int64("PRAGMA foreign_keys") == 1);
  CHECK(db.query_int64("PRAGMA busy_timeout") == 10000);
  CHECK(db.query_int64("PRAGMA temp_store") == 2);    // MEMORY
  CHECK(state.schema_version() == spool_schema().latest_version());
  CHECK(state.gateway_id().size() == 36);
  CHECK(state.gateway_id()[14] == '7');  // UUIDv7
  CHECK(capture->contains("event=statedb.migrated"));
  struct stat info {};
  REQUIRE(::stat((dir / "state").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
}

TEST_CASE("reopening keeps the gateway id and applies nothing again", "[statedb]") {
  test::TempDir dir;
  std::string id;
  {
    StateDb first = StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema());
    id = first.gateway_id();
  }
  auto capture = std::make_shared<test::LogCapture>();
  StateDb second = StateDb::open(dir.path(), StateDb::Access::read_write, test::capture_logger(capture), spool_schema());
  CHECK(second.gateway_id() == id);
  CHECK_FALSE(capture->contains("statedb.migrated"));
  StateDb reader = StateDb::open(dir.path(), StateDb::Access::read_only, quiet_logger(), spool_schema());
  CHECK(reader.gateway_id() == id);
}

TEST_CASE("migrations apply in order, one transaction each, and a failing one leaves the previous state", "[statedb]") {
  test::TempDir dir;
  base::Database db = base::Database::open(dir / "m.db", base::Database::Mode::read_write_create);
  configure_connection(db, true);
  const Migration good[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}, {2, "two", "CREATE TABLE b (y INTEGER);"}};
  CHECK(apply_schema(db, Schema{{"part", good}}, quiet_logger()) == 2);
  CHECK(db.query_int64("SELECT version FROM schema_versions WHERE component = 'part'") == 2);
  const Migration broken[] = {good[0], good[1], {3, "three", "CREATE TABLE c (z INTEGER); THIS IS NOT SQL;"}};
  CHECK_THROWS_AS(apply_schema(db, Schema{{"part", broken}}, quiet_logger()), base::SqliteError);
  CHECK(db.query_int64("SELECT version FROM schema_versions WHERE component = 'part'") == 2);
  CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'c'") == 0);
}

TEST_CASE("components grow independently: a new migration of one applies alone", "[statedb]") {
  test::TempDir dir;
  base::Database db = base::Database::open(dir / "m.db", base::Database::Mode::read_write_create);
  configure_connection(db, true);
  const Migration first[] = {{1, "a1", "CREATE TABLE a (x INTEGER);"}};
  const Migration other[] = {{1, "b1", "CREATE TABLE b (y INTEGER);"}, {2, "b2", "CREATE TABLE b2 (y INTEGER);"}};
  CHECK(apply_schema(db, Schema{{"a", first}, {"b", other}}, quiet_logger()) == 3);
  const Migration grown[] = {first[0], {2, "a2", "CREATE TABLE a2 (x INTEGER);"}};
  auto capture = std::make_shared<test::LogCapture>();
  CHECK(apply_schema(db, Schema{{"a", grown}, {"b", other}}, test::capture_logger(capture)) == 4);
  CHECK(capture->contains("component=a version=2"));
  CHECK_FALSE(capture->contains("component=b"));
  // A narrower schema (one component) neither refuses nor touches the other.
  CHECK(apply_schema(db, Schema{{"a", grown}}, quiet_logger()) == 4);
}

TEST_CASE("an upgrade copies the database (VACUUM INTO) before migrating, a new database is not copied", "[statedb]") {
  test::TempDir dir;
  base::Database db = base::Database::open(dir / "m.db", base::Database::Mode::read_write_create);
  configure_connection(db, true);
  const Migration first[] = {{1, "one", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (42);"}};
  (void)apply_schema(db, Schema{{"part", first}}, quiet_logger());
  auto backups = [&] {
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().filename().string().starts_with("m.db.schema")) found.push_back(entry.path());
    }
    return found;
  };
  CHECK(backups().empty());
  const Migration both[] = {first[0], {2, "two", "DROP TABLE a; CREATE TABLE b (y INTEGER);"}};
  (void)apply_schema(db, Schema{{"part", both}}, quiet_logger());
  CHECK(db.query_int64("SELECT version FROM schema_versions WHERE component = 'part'") == 2);
  const auto found = backups();
  REQUIRE(found.size() == 1);
  CHECK_THAT(found[0].filename().string(), Catch::StartsWith("m.db.schema1-") && Catch::EndsWith(".bak"));
  CHECK((std::filesystem::status(found[0]).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
  base::Database old = base::Database::open(found[0], base::Database::Mode::read_only);
  CHECK(old.query_int64("SELECT version FROM schema_versions WHERE component = 'part'") == 1);
  CHECK(old.query_int64("SELECT x FROM a") == 42);
  (void)apply_schema(db, Schema{{"part", both}}, quiet_logger());  // nothing to do: no second copy
  CHECK(backups().size() == 1);
}

TEST_CASE("a database of the single user_version sequence (before components) is upgraded in place", "[statedb]") {
  test::TempDir dir;
  {
    // As medgw 0.1 left it: the spool's 1-2 and the collectors' 1-2 as user_version 1-4.
    base::Database db = base::Database::open(dir / "state.db", base::Database::Mode::read_write_create);
    configure_connection(db, true);
    for (const Migration& migration : spool_migrations().subspan(0, 2)) db.exec(migration.sql);
    db.exec("CREATE TABLE file_index (source TEXT, path BLOB); INSERT INTO file_index VALUES ('s', x'41');");
    db.exec("CREATE TABLE optout_register (patient_key BLOB PRIMARY KEY) WITHOUT ROWID;");
    db.exec("INSERT INTO gateway (singleton, gateway_id, created_at) VALUES (1, 'g', 't');");
    db.exec("INSERT INTO objects (object_id, seq, file_name, size, content_bytes, entries, sha256, signature, "
            "created_at) VALUES ('o', 1, 'f', 1, 1, 1, 'h', x'00', 0)");
    db.exec("PRAGMA user_version = 4");
  }
  const Migration collectors_like[] = {{1, "file index", "CREATE TABLE file_index (source TEXT, path BLOB);"},
                                       {2, "opt-out register", "CREATE TABLE optout_register (k BLOB);"}};
  auto capture = std::make_shared<test::LogCapture>();
  StateDb state = StateDb::open(dir.path(), StateDb::Access::read_write, test::capture_logger(capture),
                                Schema{{spool_component, spool_migrations()}, {"collectors", collectors_like}});
  // Only the spool's new migration ran; the rows survived it.
  CHECK(capture->contains("component=spool version=3"));
  CHECK_FALSE(capture->contains("component=collectors"));
  CHECK(state.db().query_int64("SELECT count(*) FROM file_index") == 1);
  CHECK(state.db().query_text("SELECT state FROM objects WHERE object_id = 'o'") == "ready");
  CHECK(state.db().query_int64("PRAGMA user_version") > 4);  // an older medgw refuses it as newer
  CHECK(capture->contains("event=statedb.backup"));
}

TEST_CASE("a database written by a newer medgw is refused with a clear error", "[statedb]") {
  test::TempDir dir;
  {
    StateDb state = StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema());
    state.db().exec("UPDATE schema_versions SET version = 999 WHERE component = 'spool'");
  }
  try {
    (void)StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema());
    FAIL("opened a newer database");
  } catch (const StateDbError& error) {
    CHECK_THAT(error.what(), Catch::Contains("schema version 999 of spool") && Catch::Contains("newer medgw"));
  }
  CHECK_THROWS_WITH(StateDb::open(dir.path(), StateDb::Access::read_only, quiet_logger(), spool_schema()), Catch::Contains("newer medgw"));
}

TEST_CASE("quick_check at open catches a damaged database", "[statedb]") {
  test::TempDir dir;
  {
    StateDb state = StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema());
    state.db().exec("CREATE TABLE filler (v TEXT); CREATE INDEX filler_v ON filler(v);");
    state.db().exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                    "INSERT INTO filler SELECT printf('%050d', i) FROM n;");
    state.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  // Overwrite the middle of the file (an index/table page) with garbage.
  const auto file = dir / "state.db";
  const auto size = std::filesystem::file_size(file);
  {
    std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(size / 2));
    const std::string garbage(8192, '\x5a');
    out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  CHECK_THROWS_WITH(StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema()),
                    Catch::Contains("state.db") && (Catch::Contains("integrity check") || Catch::Contains("damaged")));
}

TEST_CASE("read-only access never creates a database", "[statedb]") {
  test::TempDir dir;
  CHECK_THROWS_WITH(StateDb::open(dir.path(), StateDb::Access::read_only, quiet_logger(), spool_schema()),
                    Catch::Contains("does not exist yet"));
  CHECK_FALSE(std::filesystem::exists(dir / "state.db"));
}

TEST_CASE("the state is bound to one facility", "[statedb]") {
  test::TempDir dir;
  StateDb state = StateDb::open(dir.path(), StateDb::Access::read_write, quiet_logger(), spool_schema());
  state.bind_facility("131234567");
  state.bind_facility("131234567");
  CHECK_THROWS_WITH(state.bind_facility("271234567"), Catch::Contains("belongs to facility 131234567"));
}

TEST_CASE("a write transaction rolls back unless committed", "[statedb]") {
  test::TempDir dir;
  base::Database db = base::Database::open(dir / "t.db", base::Database::Mode::read_write_create);
  configure_connection(db, true);
  db.exec("CREATE TABLE t (v INTEGER)");
  {
    base::WriteTransaction transaction(db);
    db.prepare("INSERT INTO t VALUES (?1)").bind_all(1).run();
  }
  CHECK(db.query_int64("SELECT count(*) FROM t") == 0);
  {
    base::WriteTransaction transaction(db);
    db.prepare("INSERT INTO t VALUES (?1)").bind_all(2).run();
    transaction.commit();
  }
  CHECK(db.query_int64("SELECT v FROM t") == 2);
}

TEST_CASE("a schema refuses a component listed twice or migrations not numbered 1, 2, 3", "[statedb]") {
  const Migration one_two[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}, {2, "two", "CREATE TABLE b (y INTEGER);"}};
  const Migration gap[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}, {3, "three", "CREATE TABLE c (z INTEGER);"}};
  const Schema fine{{"a", one_two}, {"b", one_two}};
  CHECK(fine.latest_version() == 4);
  CHECK_THROWS_WITH((Schema{{"a", one_two}, {"a", one_two}}), Catch::Contains("listed twice"));
  CHECK_THROWS_WITH((Schema{{"a", gap}}), Catch::Contains("migration 3") && Catch::Contains("where 2 was expected"));
}


TEST_CASE("a reused prepared statement comes back reset, without its bindings, and may outlive its database",
          "[statedb][sqlite]") {
  test::TempDir dir;
  auto db = base::Database::open(dir / "cache.db", base::Database::Mode::read_write_create);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  const std::string insert = "INSERT INTO t (k, v) VALUES (?1, ?2)";
  db.prepare(insert).bind_all(1, "one").run();
  // The same text again: the bindings of the last use are gone (v is NULL).
  db.prepare(insert).bind(1, 2).run();
  CHECK(db.query_int64("SELECT count(*) FROM t WHERE v IS NULL") == 1);
  // A failed step does not spoil the statement for the next use.
  CHECK_THROWS_AS(db.prepare(insert).bind_all(1, "again").run(), base::SqliteError);
  db.prepare(insert).bind_all(3, "three").run();
  // Two uses of one text at once are independent statements.
  auto outer = db.prepare("SELECT k FROM t ORDER BY k");
  auto inner = db.prepare("SELECT k FROM t ORDER BY k");
  REQUIRE(outer.step());
  REQUIRE(inner.step());
  REQUIRE(inner.step());
  CHECK(outer.column_int64(0) == 1);
  CHECK(inner.column_int64(0) == 2);

  // A query left half-read is reset when given back: it no longer holds the
  // read lock that would keep another connection from committing.
  {
    auto half = db.prepare("SELECT k FROM t ORDER BY k");
    REQUIRE(half.step());
  }
  outer = db.prepare("SELECT 1");
  { auto drop = std::move(inner); }
  auto other = base::Database::open(dir / "cache.db", base::Database::Mode::read_write);
  other.exec("PRAGMA busy_timeout = 0");
  CHECK_NOTHROW(other.exec("INSERT INTO t (k, v) VALUES (4, 'four')"));

  // A statement still out when its database goes is finalized afterwards.
  auto late = db.prepare("SELECT count(*) FROM t");
  REQUIRE(late.step());
  CHECK(late.column_int64(0) == 4);
  db = base::Database::open(dir / "other.db", base::Database::Mode::read_write_create);
  { auto gone = std::move(late); }
  CHECK(db.query_int64("SELECT 7") == 7);
}
