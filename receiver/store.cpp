#include <receiver/store.hpp>

#include <receiver/store_migrations.hpp>

#include <cerrno>

namespace medgw::receiver {
namespace {

Upload upload_from_row(base::Statement& row) {
  Upload upload;
  upload.id = row.column_text(0);
  upload.facility = row.column_text(1);
  upload.length = static_cast<std::uint64_t>(row.column_int64(2));
  upload.offset = static_cast<std::uint64_t>(row.column_int64(3));
  upload.metadata = row.column_text(4);
  upload.expires_ms = row.column_int64(5);
  upload.object_id = row.is_null(6) ? std::string() : row.column_text(6);
  upload.seq = row.is_null(7) ? 0 : static_cast<std::uint64_t>(row.column_int64(7));
  upload.completed = row.column_int64(8) != 0;
  return upload;
}

}  // namespace

std::string_view landing_state_name(LandingState state) {
  switch (state) {
    case LandingState::pending: return "pending";
    case LandingState::landed: return "landed";
    case LandingState::quarantined: return "quarantined";
    case LandingState::skipped: return "skipped";
  }
  return "pending";
}

Store::Store(const std::filesystem::path& db_file) : db_(base::Database::open(db_file, base::Database::Mode::read_write_create)) {
  // A file system where SQLite cannot keep a write-ahead log (no shared
  // memory) leaves the journal mode as it was: then every commit is flushed
  // (FULL), as finish_objects cannot flush a log afterwards.
  const bool wal = db_.query_text("PRAGMA journal_mode = WAL") == "wal";
  // Offsets and uploads are hints (a lost one means bytes sent again); an
  // object's row is made durable explicitly (finish_object).
  db_.exec(wal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
  // The operator's commands (landing retry/skip) write from another process.
  db_.exec("PRAGMA busy_timeout = 10000");
  migrate_receiver_db(db_);
  if (wal) wal_file_ = db_.wal_file();
}

void Store::add_upload(const Upload& upload) {
  std::lock_guard lock(mutex_);
  db_.prepare("INSERT INTO uploads (id, facility, length, offset, metadata, expires_ms, object_id, seq, completed) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
      .bind_all(upload.id, upload.facility, upload.length, upload.offset, upload.metadata, upload.expires_ms,
                upload.object_id, upload.seq, upload.completed ? 1 : 0)
      .run();
}

std::vector<Upload> Store::uploads() {
  std::lock_guard lock(mutex_);
  std::vector<Upload> out;
  base::Statement query = db_.prepare(
      "SELECT id, facility, length, offset, metadata, expires_ms, object_id, seq, completed FROM uploads");
  while (query.step()) out.push_back(upload_from_row(query));
  return out;
}

void Store::set_offset(std::string_view id, std::uint64_t offset) {
  std::lock_guard lock(mutex_);
  db_.prepare("UPDATE uploads SET offset = ?2 WHERE id = ?1 AND completed = 0").bind_all(id, offset).run();
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

void Store::complete_upload(std::string_view id) {
  std::lock_guard lock(mutex_);
  db_.prepare("UPDATE uploads SET completed = 1, offset = length WHERE id = ?1").bind_all(id).run();
}

std::optional<StoredObject> Store::object(std::string_view object_id) {
  std::lock_guard lock(mutex_);
  base::Statement query = db_.prepare(
      "SELECT facility, seq, sha256, file, receipt, landing_state, coalesce(landing_reason, '') FROM objects "
      "WHERE object_id = ?1 AND state = 'stored'");
  query.bind_all(object_id);
  if (!query.step()) return std::nullopt;
  StoredObject object;
  object.object_id = std::string(object_id);
  object.facility = query.column_text(0);
  object.seq = static_cast<std::uint64_t>(query.column_int64(1));
  object.sha256 = query.column_text(2);
  object.file = query.column_text(3);
  object.receipt_json = query.column_text(4);
  const std::string state = query.column_text(5);
  object.landing = state == "landed" ? LandingState::landed : state == "quarantined" ? LandingState::quarantined
                   : state == "skipped" ? LandingState::skipped : LandingState::pending;
  object.landing_reason = query.column_text(6);
  return object;
}

Claim Store::claim_object(const StoredObject& object, std::uint64_t size, std::int64_t received_ms,
                          std::string_view upload_id, const std::function<bool(std::string_view)>& live) {
  std::lock_guard lock(mutex_);
  base::WriteTransaction transaction(db_);
  base::Statement existing = db_.prepare("SELECT state, coalesce(owner_upload, '') FROM objects WHERE object_id = ?1");
  existing.bind_all(object.object_id);
  if (existing.step()) {
    const std::string state = existing.column_text(0);
    const std::string owner = existing.column_text(1);
    if (state == "stored") return Claim::duplicate;
    if (owner != upload_id && live(owner)) return Claim::busy;
    // A claim nobody works on any more: this upload takes it over.
    db_.prepare("UPDATE objects SET owner_upload = ?2 WHERE object_id = ?1").bind_all(object.object_id, upload_id).run();
    transaction.commit();
    return Claim::claimed;
  }
  // One seq space per facility: an object whose seq another object of the
  // facility has is stored and receipted (its bytes are verified and signed)
  // but quarantined for landing, for the operator to decide.
  base::Statement same_seq = db_.prepare("SELECT 1 FROM objects WHERE facility = ?1 AND seq = ?2");
  same_seq.bind_all(object.facility, object.seq);
  const bool conflict = same_seq.step();
  db_.prepare(
         "INSERT INTO objects (object_id, facility, seq, sha256, file, size, received_ms, receipt, state, owner_upload, "
         "landing_state, landing_reason, landing_changed_ms) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'storing', ?9, ?10, ?11, ?7)")
      .bind_all(object.object_id, object.facility, object.seq, object.sha256, object.file, size, received_ms,
                object.receipt_json, upload_id, conflict ? "quarantined" : "pending",
                conflict ? std::optional<std::string_view>("seq_conflict") : std::nullopt)
      .run();
  transaction.commit();
  return conflict ? Claim::claimed_seq_conflict : Claim::claimed;
}

void Store::finish_object(std::string_view object_id, std::string_view upload_id) {
  std::vector<int> errors(1, 0);
  finish_objects({{std::string(object_id), std::string(upload_id)}}, errors);
  if (errors[0] != 0) throw std::runtime_error("an object's claim was lost before it was stored");
}

void Store::finish_objects(const std::vector<Finish>& finishes, std::vector<int>& errors) {
  {
    std::lock_guard lock(mutex_);
    finish_in_transaction(finishes, errors);
  }
  // Durable before any client hears "stored": the log flushed (synchronous=FULL
  // would hold the lock through it). Without a log the commit was flushed.
  if (wal_file_.empty()) return;
  base::flush_wal(wal_file_, !wal_folder_synced_.load());
  wal_folder_synced_ = true;
}

void Store::finish_in_transaction(const std::vector<Finish>& finishes, std::vector<int>& errors) {
  base::WriteTransaction transaction(db_);
  base::Statement stored =
      db_.prepare("UPDATE objects SET state = 'stored', owner_upload = NULL WHERE object_id = ?1 AND owner_upload = ?2");
  base::Statement completed = db_.prepare("UPDATE uploads SET completed = 1, offset = length WHERE id = ?1");
  for (std::size_t i = 0; i < finishes.size(); ++i) {
    stored.bind_all(finishes[i].object_id, finishes[i].upload_id).run();
    stored.reset();
    if (db_.changes() != 1) {
      errors[i] = ENOENT;
      continue;
    }
    completed.bind_all(finishes[i].upload_id).run();
    completed.reset();
  }
  transaction.commit();
}

void Store::release_claim(std::string_view object_id, std::string_view upload_id) {
  std::lock_guard lock(mutex_);
  db_.prepare("DELETE FROM objects WHERE object_id = ?1 AND state = 'storing' AND owner_upload = ?2")
      .bind_all(object_id, upload_id)
      .run();
}

std::vector<Store::Storing> Store::storing_claims() {
  std::lock_guard lock(mutex_);
  std::vector<Storing> out;
  base::Statement query =
      db_.prepare("SELECT object_id, file, coalesce(owner_upload, '') FROM objects WHERE state = 'storing'");
  while (query.step()) out.push_back({query.column_text(0), query.column_text(1), query.column_text(2)});
  return out;
}

}  // namespace medgw::receiver
