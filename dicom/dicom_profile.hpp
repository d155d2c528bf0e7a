#pragma once
// What the rest of medgw knows about a DICOM source's paths
// (<patient>/<StudyInstanceUID>/<SOPInstanceUID>.dcm, study_feed.hpp): the
// patient folder, so that a withdrawal names it and the central removes it.
#include <collectors/source_profile.hpp>

namespace medgw::dicom {

class DicomProfile final : public collectors::SourceProfile {
 public:
  [[nodiscard]] collectors::Analysis analyze(std::string_view relative_path,
                                             std::optional<std::string_view> content) const override;
  [[nodiscard]] std::string patient_folder(std::string_view patient_id) const override;
};

}  // namespace medgw::dicom
