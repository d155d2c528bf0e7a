#include <receiver/store_migrations.hpp>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

namespace medgw::receiver {
namespace {

// Never edit a migration that shipped: add the next one.
constexpr std::array<std::string_view, receiver_schema_version> migrations = {
    // 1: uploads, objects (landed 0/1), the landing cursor per facility.
    R"sql(
CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  facility   TEXT NOT NULL,
  length     INTEGER NOT NULL,
  offset     INTEGER NOT NULL,
  metadata   TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE objects (
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
CREATE INDEX objects_by_seq ON objects (facility, seq);
CREATE TABLE landing (
  facility       TEXT PRIMARY KEY,
  landed_through INTEGER NOT NULL
) STRICT;
)sql",
    // 2: completion decided by the row ("storing" until the file is in
    // place), completed uploads kept for HEAD, landing states with
    // quarantine, a paused landing.
    R"sql(
ALTER TABLE uploads ADD COLUMN object_id TEXT;
ALTER TABLE uploads ADD COLUMN seq INTEGER;
ALTER TABLE uploads ADD COLUMN completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN state TEXT NOT NULL DEFAULT 'stored';
ALTER TABLE objects ADD COLUMN owner_upload TEXT;
ALTER TABLE objects ADD COLUMN landing_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE objects ADD COLUMN landing_reason TEXT;
ALTER TABLE objects ADD COLUMN landing_changed_ms INTEGER;
UPDATE objects SET landing_state = CASE WHEN landed = 1 THEN 'landed' ELSE 'pending' END;
ALTER TABLE objects DROP COLUMN landed;
ALTER TABLE landing ADD COLUMN paused_reason TEXT;
ALTER TABLE landing ADD COLUMN paused_since_ms INTEGER;
CREATE INDEX objects_by_landing_state ON objects (facility, landing_state);
)sql",
    // 3: erasure receipts (issue 19): for each landed object that withdrew
    // patients, the signed statement that they were erased (counts only).
    R"sql(
CREATE TABLE erasures (
  object_id TEXT PRIMARY KEY,
  facility  TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  erased_ms INTEGER NOT NULL,
  receipt   TEXT NOT NULL
) STRICT;
)sql",
};

}  // namespace

void migrate_receiver_db(base::Database& db) {
  const auto version = db.query_int64("PRAGMA user_version").value_or(0);
  if (version > receiver_schema_version) {
    throw std::runtime_error(db.file().string() + " was written by a newer medgw-receiver (schema " +
                             std::to_string(version) + ", this one knows " + std::to_string(receiver_schema_version) +
                             "); run that version, or restore a backup of the data_dir");
  }
  for (auto next = version; next < receiver_schema_version; ++next) {
    base::WriteTransaction transaction(db);
    // Schema 1 was created with IF NOT EXISTS and user_version 1 in one go, so
    // a database at 0 is empty.
    db.exec(migrations[static_cast<std::size_t>(next)]);
    db.exec("PRAGMA user_version = " + std::to_string(next + 1));
    transaction.commit();
  }
}

}  // namespace medgw::receiver
