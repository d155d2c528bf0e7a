#pragma once
// SS-MIX2 analysis of one file: the name grammar and folder consistency
// (domain.md §1.2-1.3), then - with content - ISO-2022-JP decoding before any
// field split, MSH/PID, and whether MSH-9 fits the data type. The parsed
// fields become the manifest meta.
#include <collectors/source_profile.hpp>

#include <optional>

namespace medgw::collectors {

class Ssmix2StandardProfile final : public SourceProfile {
 public:
  [[nodiscard]] Analysis analyze(std::string_view relative_path, std::optional<std::string_view> content) const override;
  [[nodiscard]] Exclusion exclusion(std::string_view relative_path, const PatientPolicy& policy) const override;
  [[nodiscard]] std::optional<Encounter> encounter(std::string_view relative_path) const override;
  [[nodiscard]] std::string patient_folder(std::string_view patient_id) const override;
};

// Extended storage: <pid3>/<pid3>/<pid>/<date>/<data type folder>/<content
// folder>/<files>; the content folder name has 6 or 7 fields.
class Ssmix2ExtendedProfile final : public SourceProfile {
 public:
  [[nodiscard]] Analysis analyze(std::string_view relative_path, std::optional<std::string_view> content) const override;
  [[nodiscard]] Exclusion exclusion(std::string_view relative_path, const PatientPolicy& policy) const override;
  [[nodiscard]] std::optional<Encounter> encounter(std::string_view relative_path) const override;
  [[nodiscard]] std::string patient_folder(std::string_view patient_id) const override;
};

struct ContentFolderName {
  std::string patient_id;
  std::string care_date;
  std::string data_type;
  std::string key;
  std::string timestamp;
  std::string department;  // empty in the 6-field form
  char condition_flag = '1';
};
[[nodiscard]] std::optional<ContentFolderName> parse_content_folder_name(std::string_view name);

// <pid[0:3]>/<pid[3:6]>/<pid>/: the folder of one patient in either storage.
[[nodiscard]] std::string ssmix2_patient_folder(std::string_view patient_id);

}  // namespace medgw::collectors
