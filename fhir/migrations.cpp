// The FHIR source's tables in state.db. Append new migrations with the next
// number; never edit one that has shipped.
#include <fhir/migrations.hpp>

#include <array>

namespace medgw::fhir {
namespace {

using spool::Migration;

constexpr std::array migrations{
    Migration{1, "REST watermarks and Bulk Data exports", R"sql(
-- REST mode: per resource type, the newest meta.lastUpdated fetched
-- (microseconds since the epoch). The next search asks from it minus the
-- overlap window (fhir/rest_poller.hpp).
CREATE TABLE fhir_rest_marks (
  source    TEXT NOT NULL,
  type      TEXT NOT NULL,
  watermark INTEGER NOT NULL,
  PRIMARY KEY (source, type)
) STRICT, WITHOUT ROWID;
-- REST mode: the versions fetched whose lastUpdated lies within the overlap
-- window of the watermark, so that the window's repeats are dropped (older
-- rows are pruned). FHIR logical ids, never a patient ID.
CREATE TABLE fhir_rest_seen (
  source       TEXT NOT NULL,
  type         TEXT NOT NULL,
  id           TEXT NOT NULL,
  version_id   TEXT NOT NULL,     -- meta.versionId ('' when the server has none)
  last_updated INTEGER NOT NULL,  -- meta.lastUpdated in microseconds (0 when absent)
  PRIMARY KEY (source, type, id)
) STRICT, WITHOUT ROWID;
-- Bulk mode: the transactionTime of the last export fully staged (the next
-- export's _since) and the status URL of the export in progress.
CREATE TABLE fhir_bulk (
  source     TEXT PRIMARY KEY,
  since      TEXT,   -- transactionTime as the server wrote it
  job_url    TEXT,   -- Content-Location of the kick-off; NULL when none runs
  job_since  TEXT    -- the _since the running job was asked with
) STRICT, WITHOUT ROWID;
)sql"},
};

}  // namespace

std::span<const Migration> fhir_migrations() { return migrations; }

}  // namespace medgw::fhir
