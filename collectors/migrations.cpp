// The collectors' part of state.db (component "collectors", see
// spool::Schema). Append new migrations with the next number; never edit one
// that has shipped.
#include <collectors/migrations.hpp>

#include <array>

namespace medgw::collectors {
namespace {

using spool::Migration;

constexpr std::array migrations{
    Migration{1, "file index", R"sql(
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
    Migration{2, "opt-out register", R"sql(
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
    Migration{3, "notice period and policy audit", R"sql(
-- Notice-based provision (issue 19): per patient, the first encounter on or
-- after policy.notice.start that the collectors have seen. Like the file
-- index's paths, patient IDs are kept here in clear (invariant 5: same box,
-- same protection as the sources); they never leave state.db.
CREATE TABLE notice_patients (
  patient_id      TEXT PRIMARY KEY,  -- SS-MIX2 patient ID, カルテ番号 or DPC データ識別番号
  first_encounter TEXT NOT NULL,     -- YYYYMMDD; '' when data was seen but no encounter since start
  encounter_where TEXT NOT NULL,     -- where it was seen: "ssmix2 ADT-12", "dpc 202602", "receipt 202602"
  recorded_at     INTEGER NOT NULL   -- unix milliseconds
) STRICT, WITHOUT ROWID;

-- Every change of the opt-out list and the notice register the gateway
-- loaded: append-only (triggers refuse UPDATE and DELETE), each row chained to
-- the one before by SHA-256 (`medgw audit verify`). Changes name patients by
-- keyed hash (PatientTagger::digest, hex), never by ID.
CREATE TABLE policy_audit (
  seq         INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,  -- unix milliseconds
  subject     TEXT NOT NULL,     -- optout_list | notice_register
  file_sha256 TEXT NOT NULL,     -- hex of the file's bytes as loaded ("" when the file is no longer configured)
  change      TEXT NOT NULL,     -- JSON: entries, added/removed/changed keyed hashes
  prev_hash   TEXT NOT NULL,     -- hash of the row before (64 zeros for the first)
  hash        TEXT NOT NULL      -- SHA-256 over prev_hash and this row's fields
) STRICT;
CREATE TRIGGER policy_audit_append_only_update BEFORE UPDATE ON policy_audit
  BEGIN SELECT RAISE(ABORT, 'policy_audit is append-only'); END;
CREATE TRIGGER policy_audit_append_only_delete BEFORE DELETE ON policy_audit
  BEGIN SELECT RAISE(ABORT, 'policy_audit is append-only'); END;
-- What the last audited version of each file held (keyed hash -> hash of the
-- entry), to tell what the next version changed.
CREATE TABLE policy_audit_entries (
  subject     TEXT NOT NULL,
  patient_key BLOB NOT NULL,
  entry_hash  BLOB NOT NULL,
  PRIMARY KEY (subject, patient_key)
) STRICT, WITHOUT ROWID;
)sql"},
    Migration{4, "notice period: rows held out of copies sent", R"sql(
-- DPC rows and receipts left out of the copy of a file that was sent because
-- their patient's notice period had not passed: once the patient is
-- eligible, a "late rows" copy of the file with only their rows is sent and
-- the row here is deleted in the transaction that records it. A new version
-- of the file (or its deletion) forgets what was held of the old one.
CREATE TABLE notice_held_rows (
  source     TEXT NOT NULL,
  path       BLOB NOT NULL,
  patient_id TEXT NOT NULL,  -- DPC データ識別番号 or カルテ番号 (state.db only, as the file index's paths)
  PRIMARY KEY (source, path, patient_id)
) STRICT, WITHOUT ROWID;
)sql"},
    Migration{5, "withdrawals: the central's erasure receipts", R"sql(
-- A withdrawal is confirmed when the central's signed erasure receipt for
-- the object holding it verifies (issue 19): kept here, with its date.
ALTER TABLE optout_register ADD COLUMN withdraw_object TEXT;   -- object_id of the withdraw object
ALTER TABLE optout_register ADD COLUMN erased_at TEXT;         -- RFC 3339, from the receipt; NULL until confirmed
ALTER TABLE optout_register ADD COLUMN erasure_receipt TEXT;   -- the receipt JSON as received (counts only)
)sql"},
};

}  // namespace

std::span<const spool::Migration> collectors_migrations() { return migrations; }

}  // namespace medgw::collectors
