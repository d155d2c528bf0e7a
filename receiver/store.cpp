#include <receiver/store.hpp>

namespace medgw::receiver {
namespace {

constexpr int schema_version = 1;

constexpr std::string_view schema = R"sql(
CREATE TABLE IF NOT EXISTS uploads (
  id         TEXT PRIMARY KEY,
  facility   TEXT NOT NULL,
  length     INTEGER NOT NULL,
  offset     INTEGER NOT NULL,
  metadata   TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS objects (
  object_id   TEXT PRIMARY KEY,
  facility    TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  file        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  receipt     TEXT NOT NULL,
  landed      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS objects_by_seq ON objects (facility, seq);
CREATE TABLE IF NOT EXISTS landing (
  facility       TEXT PRIMARY KEY,
  landed_through INTEGER NOT NULL
) STRICT;
)sql";

}  // namespace

Store::Store(const std::filesystem::path& db_file) : db_(base::Database::open(db_file, base::Database::Mode::read_write_create)) {
  db_.exec("PRAGMA journal_mode = WAL");
  // Offsets and uploads are hints (a lost one means bytes sent again); an
  // object's row is made durable explicitly (add_object).
  db_.exec("PRAGMA synchronous = NORMAL");
  const auto version = db_.query_int64("PRAGMA user_version").value_or(0);
  if (version > schema_version) {
    throw std::runtime_error(db_file.string() + " was written by a newer medgw-receiver (schema " +
                             std::to_string(version) + "); use that version");
  }
  base::WriteTransaction transaction(db_);
  db_.exec(schema);
  db_.exec("PRAGMA user_version = " + std::to_string(schema_version));
  transaction.commit();
}

void Store::add_upload(const Upload& upload) {
  std::lock_guard lock(mutex_);
  db_.prepare("INSERT INTO uploads (id, facility, length, offset, metadata, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .bind_all(upload.id, upload.facility, upload.length, upload.offset, upload.metadata, upload.expires_ms)
      .run();
}

std::optional<Upload> Store::upload(std::string_view id) {
  std::lock_guard lock(mutex_);
  base::Statement query = db_.prepare("SELECT facility, length, offset, metadata, expires_ms FROM uploads WHERE id = ?1");
  query.bind_all(id);
  if (!query.step()) return std::nullopt;
  return Upload{std::string(id), query.column_text(0), static_cast<std::uint64_t>(query.column_int64(1)),
                static_cast<std::uint64_t>(query.column_int64(2)), query.column_text(3), query.column_int64(4)};
}

void Store::set_offset(std::string_view id, std::uint64_t offset) {
  std::lock_guard lock(mutex_);
  db_.prepare("UPDATE uploads SET offset = ?2 WHERE id = ?1").bind_all(id, offset).run();
}

void Store::remove_upload(std::string_view id) {
  std::lock_guard lock(mutex_);
  db_.prepare("DELETE FROM uploads WHERE id = ?1").bind_all(id).run();
}

std::vector<std::string> Store::expired_uploads(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  base::Statement query = db_.prepare("SELECT id FROM uploads WHERE expires_ms < ?1");
  query.bind_all(now_ms);
  while (query.step()) ids.push_back(query.column_text(0));
  return ids;
}

std::optional<StoredObject> Store::object(std::string_view object_id) {
  std::lock_guard lock(mutex_);
  base::Statement query =
      db_.prepare("SELECT facility, seq, sha256, file, receipt, landed FROM objects WHERE object_id = ?1");
  query.bind_all(object_id);
  if (!query.step()) return std::nullopt;
  return StoredObject{std::string(object_id), query.column_text(0), static_cast<std::uint64_t>(query.column_int64(1)),
                      query.column_text(2), query.column_text(3), query.column_text(4), query.column_int64(5) != 0};
}

bool Store::add_object(const StoredObject& object, std::uint64_t size, std::int64_t received_ms) {
  std::lock_guard lock(mutex_);
  // The gateway deletes its copy once told the object arrived: this row must
  // survive a power loss before that answer goes out.
  db_.exec("PRAGMA synchronous = FULL");
  struct Restore {
    base::Database& db;
    ~Restore() { db.exec("PRAGMA synchronous = NORMAL"); }
  } restore{db_};
  base::Statement insert = db_.prepare(
      "INSERT INTO objects (object_id, facility, seq, sha256, file, size, received_ms, receipt) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (object_id) DO NOTHING");
  insert.bind_all(object.object_id, object.facility, object.seq, object.sha256, object.file, size, received_ms,
                  object.receipt_json);
  insert.run();
  return db_.changes() == 1;
}

std::optional<StoredObject> Store::next_to_land(std::string_view facility) {
  std::lock_guard lock(mutex_);
  const std::uint64_t through = [&] {
    base::Statement query = db_.prepare("SELECT landed_through FROM landing WHERE facility = ?1");
    query.bind_all(facility);
    return query.step() ? static_cast<std::uint64_t>(query.column_int64(0)) : 0;
  }();
  base::Statement query = db_.prepare(
      "SELECT object_id, sha256, file, receipt FROM objects WHERE facility = ?1 AND seq = ?2 LIMIT 1");
  query.bind_all(facility, through + 1);
  if (!query.step()) return std::nullopt;
  return StoredObject{query.column_text(0), std::string(facility), through + 1, query.column_text(1),
                      query.column_text(2), query.column_text(3), false};
}

void Store::mark_landed(std::string_view facility, std::uint64_t seq) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  db_.prepare("INSERT INTO landing (facility, landed_through) VALUES (?1, ?2) "
              "ON CONFLICT (facility) DO UPDATE SET landed_through = excluded.landed_through")
      .bind_all(facility, seq)
      .run();
  db_.prepare("UPDATE objects SET landed = 1 WHERE facility = ?1 AND seq = ?2").bind_all(facility, seq).run();
  transaction.commit();
}

std::vector<FacilityReport> Store::report() {
  std::lock_guard lock(mutex_);
  std::vector<FacilityReport> reports;
  base::Statement facilities = db_.prepare(
      "SELECT facility, count(*), sum(size), max(seq) FROM objects GROUP BY facility ORDER BY facility");
  while (facilities.step()) {
    FacilityReport report;
    report.facility = facilities.column_text(0);
    report.objects = static_cast<std::uint64_t>(facilities.column_int64(1));
    report.bytes = static_cast<std::uint64_t>(facilities.column_int64(2));
    report.highest_seq = static_cast<std::uint64_t>(facilities.column_int64(3));
    reports.push_back(std::move(report));
  }
  for (FacilityReport& report : reports) {
    base::Statement seqs = db_.prepare("SELECT DISTINCT seq FROM objects WHERE facility = ?1 ORDER BY seq");
    seqs.bind_all(report.facility);
    std::uint64_t expected = 1;
    while (seqs.step()) {
      const auto seq = static_cast<std::uint64_t>(seqs.column_int64(0));
      if (seq > expected) report.gaps.emplace_back(expected, seq - 1);
      expected = seq + 1;
    }
    base::Statement landed = db_.prepare("SELECT landed_through FROM landing WHERE facility = ?1");
    landed.bind_all(report.facility);
    if (landed.step()) report.landed_through = static_cast<std::uint64_t>(landed.column_int64(0));
    base::Statement open = db_.prepare("SELECT count(*) FROM uploads WHERE facility = ?1");
    open.bind_all(report.facility);
    if (open.step()) report.open_uploads = static_cast<std::uint64_t>(open.column_int64(0));
  }
  return reports;
}

}  // namespace medgw::receiver
