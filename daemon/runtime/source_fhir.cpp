// Source type `fhir` (issue 21), mode `files`: a folder the hospital's EHR
// drops FHIR R4 files into (*.ndjson, *.json Bundles), read as a folder tree
// with the FHIR profile (fhir/fhir_profile.hpp). REST polling and Bulk Data
// export are to come.
#include <daemon/runtime/builtin_sources.hpp>

#include <fhir/fhir_profile.hpp>
#include <fhir/resource_rules.hpp>

#include <array>

namespace medgw::daemon {
namespace {

constexpr std::array<std::string_view, 1> modes{"files"};

constexpr std::array keys{
    KeySpec{"mode", ValueKind::choice, "choice", false, "files",
            "files: a folder the EHR drops FHIR R4 files into (*.ndjson, *.json Bundles).", modes, nullptr, nullptr},
    KeySpec{"path", ValueKind::path, "path", true, "",
            "Folder the FHIR files are dropped into (files mode); medgw only reads it.", {}, nullptr, nullptr,
            Sensitivity::phi_path, true},
};

std::vector<std::string> own_name(const SourceConfig& source) { return {source.name}; }

const SourceTypeSpec spec{"fhir", "FHIR R4 data of the EHR (JP Core, JP-CLINS, ePath): NDJSON and Bundle files.",
                          keys, "10m", "30s", own_name};

std::vector<SourcePass> passes(const SourceConfig& source, const SourceContext& context) {
  const std::string system = fhir::patient_id_system(context.facility_code);
  auto directory =
      std::make_shared<fhir::PatientDirectory>(context.state_dir / "fhir" / source.name, source.path("path"), system);
  return {folder_pass(source.name, source.path("path"), source,
                      std::make_shared<fhir::FhirProfile>(system, std::move(directory)))};
}

}  // namespace

const SourceType& fhir_source_type() {
  static const SourceType type{spec, passes};
  return type;
}

}  // namespace medgw::daemon
