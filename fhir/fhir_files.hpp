#pragma once
// The pieces the FHIR check and filter share (fhir_profile.hpp): how a file
// is read (NDJSON line by line, a JSON document whole), and whose patient a
// resource is.
#include <fhir/patient_directory.hpp>

#include <collectors/optout_filter.hpp>

#include <base/json.hpp>
#include <base/json_reader.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::fhir {

enum class FileFormat { ndjson, document };
[[nodiscard]] FileFormat format_of(std::string_view relative_path);

// The largest JSON document (Bundle) read whole: larger ones are named in
// the meta but not checked, and held when they would need rewriting.
inline constexpr std::size_t document_limit = 64U << 20;

// Splits bytes fed in pieces into lines; `on_line(line, raw)` gets each
// line without its end and the raw bytes with it.
class LineSplitter {
 public:
  using OnLine = std::function<void(std::string_view line, std::string_view raw)>;
  explicit LineSplitter(OnLine on_line) : on_line_(std::move(on_line)) {}
  void feed(std::string_view bytes);
  void finish();

 private:
  OnLine on_line_;
  std::string partial_;
};

// Whose a resource is, within a Bundle (its fullUrls and Patients) or a
// file of lines (the directory only).
class PatientResolver {
 public:
  PatientResolver(std::string id_system, std::shared_ptr<PatientDirectory> directory)
      : id_system_(std::move(id_system)), directory_(std::move(directory)) {}

  // A Bundle's entries, before its resources are judged.
  void index_bundle(const base::JsonValue& bundle);

  struct Owner {
    bool names_patient = false;  // the resource is a patient's (Patient, or a patient reference)
    std::string patient_id;      // the hospital's ID; empty when it cannot be told yet
  };
  [[nodiscard]] Owner owner(const base::JsonValue& resource);

 private:
  [[nodiscard]] std::string patient_of(std::string_view reference);

  std::string id_system_;
  std::shared_ptr<PatientDirectory> directory_;
  std::map<std::string, const base::JsonValue*, std::less<>> by_full_url_;
  std::map<std::string, std::string, std::less<>> bundle_patients_;  // Patient id -> hospital ID
};

// The resources of a file (or of the copy sent), for the manifest meta:
// counts by type and the first 1000 named (type, id, versionId, profiles).
class ResourceCensus {
 public:
  void add(const base::JsonValue& resource, std::string_view type);
  void mark_epath() { epath_ = true; }
  [[nodiscard]] bool epath() const noexcept { return epath_; }
  // {"kind", "format", ["bundle_type"], "types", "resource_count", `extra` members, "resources"}.
  [[nodiscard]] std::string meta(FileFormat format, std::string_view bundle_type,
                                 const std::function<void(base::JsonWriter&)>& extra = {}) const;

 private:
  struct Listed {
    std::string type, id, version;
    std::vector<std::string> profiles;
  };
  std::map<std::string, std::uint64_t> types_;
  std::vector<Listed> listed_;
  bool epath_ = false;
};

// The filter of fhir_profile.hpp (fhir_filter.cpp); `only`: a "late rows"
// copy holding only those patients' resources.
[[nodiscard]] std::unique_ptr<collectors::OptOutFilter> make_fhir_filter(
    FileFormat format, std::string id_system, std::shared_ptr<PatientDirectory> directory,
    std::shared_ptr<const collectors::PatientPolicy> policy, collectors::OnlyPatients only);

}  // namespace medgw::fhir
