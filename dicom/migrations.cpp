// The DICOM source's tables in state.db. Append new migrations with the next
// number; never edit one that has shipped.
#include <dicom/migrations.hpp>

#include <array>

namespace medgw::dicom {
namespace {

using spool::Migration;

constexpr std::array migrations{
    Migration{1, "sent DICOM instances and studies", R"sql(
-- One row per instance sent: an instance the PACS sends again with the same
-- content is dropped (idempotent by SOP Instance UID), with other content it
-- goes as a modification. Keys are the first 32 hex digits of the SHA-256 of
-- the UID (dicom/staging.hpp), never the UID or anything of the patient.
CREATE TABLE dicom_instances (
  source     TEXT NOT NULL,
  sop_key    TEXT NOT NULL,
  study_key  TEXT NOT NULL,
  sha256     TEXT NOT NULL,               -- of the staged file (hex)
  object_seq INTEGER NOT NULL,
  PRIMARY KEY (source, sop_key)
) STRICT, WITHOUT ROWID;
-- Studies with at least one object sent: later instances go as follow-ups.
CREATE TABLE dicom_studies (
  source     TEXT NOT NULL,
  study_key  TEXT NOT NULL,
  first_seq  INTEGER NOT NULL,
  PRIMARY KEY (source, study_key)
) STRICT, WITHOUT ROWID;
)sql"},
    Migration{2, "the change log position of a polled PACS", R"sql(
-- Poll mode: how far the PACS's change log was read; moved only past
-- instances already staged (dicom/orthanc_poller.hpp).
CREATE TABLE dicom_poll (
  source   TEXT PRIMARY KEY,
  position INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql"},
};

}  // namespace

std::span<const Migration> dicom_migrations() { return migrations; }

}  // namespace medgw::dicom
