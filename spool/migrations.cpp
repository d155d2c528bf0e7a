// The spool's part of state.db (component "spool", see spool::Schema): the
// gateway's identity and the object queue. Append new migrations with the
// next number; never edit one that has shipped (databases in the field have
// already applied it).
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
    Migration{3, "unconfirmed objects", R"sql(
-- An object whose receipt did not check out stays in the spool as
-- 'unconfirmed' (the central has it, but has not proved it) until a valid
-- receipt arrives or an operator decides (medgw spool release|resend); the
-- last receipt is kept as evidence. SQLite cannot change a CHECK: rebuild.
CREATE TABLE objects_v5 (
  object_id       TEXT PRIMARY KEY,
  seq             INTEGER NOT NULL UNIQUE,
  file_name       TEXT NOT NULL UNIQUE,
  size            INTEGER NOT NULL,
  content_bytes   INTEGER NOT NULL,
  entries         INTEGER NOT NULL,
  sha256          TEXT NOT NULL,
  signature       BLOB NOT NULL,
  created_at      INTEGER NOT NULL,
  state           TEXT NOT NULL DEFAULT 'ready'
                  CHECK (state IN ('ready', 'uploading', 'unconfirmed', 'rejected', 'lost')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  upload_url      TEXT,
  upload_offset   INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  receipt         TEXT                     -- unconfirmed: the receipt that did not check out
) STRICT;
INSERT INTO objects_v5 (object_id, seq, file_name, size, content_bytes, entries, sha256, signature, created_at, state,
                        attempts, next_attempt_at, upload_url, upload_offset, last_error)
  SELECT object_id, seq, file_name, size, content_bytes, entries, sha256, signature, created_at, state, attempts,
         next_attempt_at, upload_url, upload_offset, last_error FROM objects;
DROP TABLE objects;
ALTER TABLE objects_v5 RENAME TO objects;
CREATE INDEX objects_by_state ON objects (state, next_attempt_at, seq);
)sql"},
};

}  // namespace

std::span<const Migration> spool_migrations() { return migrations; }

}  // namespace medgw::spool
