#pragma once
// A `fhir` source in files mode is a folder tree the hospital's EHR drops
// FHIR R4 files into: `*.ndjson` (one resource per line, as Bulk Data
// exports them) and `*.json` (a Bundle — document, collection, message,
// ePath — or a single resource). The TreeFeed walks it like any folder
// source (settle, change index, renames); this profile reads the files:
//
// - checks each resource (JSON, resourceType of R4, id; inside a Bundle,
//   urn:uuid references that resolve), counted as anomalies, never blocking;
//   names the resources in the manifest meta (type, id, versionId, profile
//   URLs, up to 1000 per file, and counts by type) and marks ePath bundles;
// - learns which hospital patient each Patient resource is (PatientDirectory);
// - with an opt-out list or the notice period in force, sends a copy of each
//   file without the resources of patients who may not go: NDJSON line by
//   line (other lines byte for byte), a Bundle rewritten without their
//   entries (a document Bundle whose Composition goes loses all entries).
//   A resource whose patient cannot be identified yet holds the file back
//   (policy.unidentified: hold) until it can; a Bundle larger than 64 MiB
//   that would need rewriting is held whole.
#include <fhir/patient_directory.hpp>

#include <collectors/optout_filter.hpp>
#include <collectors/source_profile.hpp>

#include <memory>
#include <string>

namespace medgw::fhir {

class FhirProfile final : public collectors::StreamingProfile {
 public:
  // `id_system`: the identifier system of the hospital's patient IDs
  // (patient_id_system(facility.code)).
  FhirProfile(std::string id_system, std::shared_ptr<PatientDirectory> directory);

  [[nodiscard]] std::unique_ptr<collectors::ContentCheck> stream_check(std::string_view relative_path) const override;
  [[nodiscard]] std::unique_ptr<collectors::OptOutFilter> optout_filter(
      std::string_view relative_path, std::shared_ptr<const collectors::PatientPolicy> policy) const override;
  [[nodiscard]] std::unique_ptr<collectors::OptOutFilter> late_rows_filter(
      std::string_view relative_path, std::shared_ptr<const collectors::PatientPolicy> policy,
      collectors::OnlyPatients only) const override;

 protected:
  [[nodiscard]] collectors::Analysis analyze_path(std::string_view relative_path) const override;

 private:
  std::string id_system_;
  std::shared_ptr<PatientDirectory> directory_;
};

}  // namespace medgw::fhir
