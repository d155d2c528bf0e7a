#include <dicom/dicom_profile.hpp>

#include <dicom/study_feed.hpp>

namespace medgw::dicom {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

collectors::Analysis DicomProfile::analyze(std::string_view relative_path, std::optional<std::string_view>) const {
  collectors::Analysis analysis;
  const std::string_view folder = relative_path.substr(0, relative_path.find('/'));
  if (folder == "_unidentified") return analysis;
  // patient_folder_name() undone: %XX back to its byte.
  for (std::size_t i = 0; i < folder.size(); ++i) {
    if (folder[i] == '%' && i + 2 < folder.size() && hex_digit(folder[i + 1]) >= 0 && hex_digit(folder[i + 2]) >= 0) {
      analysis.patient_id.push_back(static_cast<char>(hex_digit(folder[i + 1]) * 16 + hex_digit(folder[i + 2])));
      i += 2;
    } else {
      analysis.patient_id.push_back(folder[i]);
    }
  }
  return analysis;
}

std::string DicomProfile::patient_folder(std::string_view patient_id) const {
  return patient_folder_name(patient_id) + "/";
}

}  // namespace medgw::dicom
