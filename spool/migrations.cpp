// The schema history of state.db. Append new migrations at the end; never
// edit one that has shipped (databases in the field have already applied it).
#include <spool/state_db.hpp>

#include <array>

namespace medgw::spool {
namespace {

constexpr std::array migrations{
    Migration{1, "gateway identity", R"sql(
CREATE TABLE gateway (
  singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
  gateway_id    TEXT NOT NULL,          -- UUIDv7, names this install in manifests
  facility_code TEXT,                   -- bound on first use, see StateDb::bind_facility
  created_at    TEXT NOT NULL           -- RFC 3339 UTC
) STRICT;
)sql"},
    Migration{2, "object spool", R"sql(
-- The next object sequence number; taken in the transaction that records
-- the object, so committed objects number 1, 2, 3 ... without gaps.
ALTER TABLE gateway ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 1;

-- Objects not yet confirmed by the central (the hot queue).
CREATE TABLE objects (
  object_id       TEXT PRIMARY KEY,
  seq             INTEGER NOT NULL UNIQUE,
  file_name       TEXT NOT NULL UNIQUE,    -- in state_dir/spool
  size            INTEGER NOT NULL,        -- bytes of the age file
  content_bytes   INTEGER NOT NULL,        -- bytes of the files inside, before compression
  entries         INTEGER NOT NULL,
  sha256          TEXT NOT NULL,           -- of the age file
  signature       BLOB NOT NULL,           -- Ed25519 over the object statement
  created_at      INTEGER NOT NULL,        -- unix milliseconds
  state           TEXT NOT NULL DEFAULT 'ready'
                  CHECK (state IN ('ready', 'uploading', 'rejected', 'lost')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  upload_url      TEXT,
  upload_offset   INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
) STRICT;
CREATE INDEX objects_by_state ON objects (state, next_attempt_at, seq);

-- Objects the central confirmed; files removed, rows kept for a while.
CREATE TABLE delivered_objects (
  object_id    TEXT PRIMARY KEY,
  seq          INTEGER NOT NULL,
  size         INTEGER NOT NULL,
  sha256       TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  receipt      TEXT
) STRICT;
CREATE INDEX delivered_by_time ON delivered_objects (delivered_at);

-- Totals that outlive the pruned history.
CREATE TABLE spool_counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO spool_counters (name, value) VALUES
  ('delivered_objects', 0), ('delivered_bytes', 0), ('lost_objects', 0), ('orphan_files_removed', 0);
)sql"},
    Migration{3, "file index", R"sql(
-- One row per collected file version: what was seen and sent. Paths are raw
-- bytes, ordered byte-wise, so a re-scan walking the tree in the same order
-- merge-joins against this table in one sequential pass. Paths name
-- patients: this table is the one place medgw keeps them (invariant 5).
CREATE TABLE file_index (
  source     TEXT NOT NULL,
  path       BLOB NOT NULL,
  size       INTEGER NOT NULL,
  mtime_ns   INTEGER NOT NULL,
  ctime_ns   INTEGER NOT NULL,
  device     INTEGER NOT NULL,
  inode      INTEGER NOT NULL,
  sha256     BLOB NOT NULL,
  object_seq INTEGER NOT NULL,            -- the object that recorded this version
  anomalies  INTEGER NOT NULL DEFAULT 0,  -- bit set of collectors::Anomaly
  PRIMARY KEY (source, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX file_index_anomalies ON file_index (source, anomalies) WHERE anomalies != 0;

-- Working tables of one collection pass (emptied at its start).
CREATE TABLE scan_new (
  source   TEXT NOT NULL,
  path     BLOB NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  device   INTEGER NOT NULL,
  inode    INTEGER NOT NULL,
  modified INTEGER NOT NULL,              -- 1: known path with changed metadata
  PRIMARY KEY (source, path)
) STRICT, WITHOUT ROWID;
CREATE TABLE scan_gone (
  source     TEXT NOT NULL,
  path       BLOB NOT NULL,
  size       INTEGER NOT NULL,
  mtime_ns   INTEGER NOT NULL,
  device     INTEGER NOT NULL,
  inode      INTEGER NOT NULL,
  sha256     BLOB NOT NULL,
  consumed   INTEGER NOT NULL DEFAULT 0,  -- 1: matched as a rename source
  PRIMARY KEY (source, path)
) STRICT, WITHOUT ROWID;
CREATE INDEX scan_gone_inode ON scan_gone (source, device, inode);
CREATE INDEX scan_gone_sha256 ON scan_gone (source, sha256);

-- The last pass of each source, for status.
CREATE TABLE source_passes (
  source      TEXT PRIMARY KEY,
  finished_at INTEGER NOT NULL,  -- unix milliseconds
  outcome     TEXT NOT NULL,     -- finished, paused (spool refused) or failed
  line        TEXT NOT NULL,     -- one line for people: counts, or why it failed
  summary     TEXT NOT NULL      -- JSON, counts only
) STRICT;
)sql"},
    Migration{4, "opt-out register", R"sql(
-- Patients on the hospital's opt-out list, as the gateway last saw it, by a
-- keyed hash of the patient ID (PatientTagger::digest), never the ID itself.
-- A patient newly listed after data was sent gets one withdraw entry; one
-- taken off the list is forgotten here, so listing them again withdraws again.
CREATE TABLE optout_register (
  patient_key  BLOB PRIMARY KEY,
  listed_at    INTEGER NOT NULL,  -- unix milliseconds the gateway first saw the entry
  withdraw_seq INTEGER            -- the object holding the withdraw entry; NULL when none was needed
) STRICT, WITHOUT ROWID;
)sql"},
};

}  // namespace

std::span<const Migration> state_migrations() { return migrations; }

}  // namespace medgw::spool
