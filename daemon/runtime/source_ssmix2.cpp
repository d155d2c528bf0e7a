// Source type `ssmix2`: the SS-MIX2 standardized storage, and the extended
// storage when the hospital has one. The two are separate passes with their
// own index: the standardized storage under the source's name, the extended
// under "<name>-ext" (the manifests name the pass, so the central can tell
// them apart).
#include <daemon/runtime/builtin_sources.hpp>

#include <collectors/ssmix2_profile.hpp>

#include <array>

namespace medgw::daemon {
namespace {

constexpr std::string_view extended_suffix = "-ext";

constexpr std::array keys{
    KeySpec{"path", ValueKind::path, "path", true, "",
            "Root of the SS-MIX2 standardized storage (the folder holding the 3-digit patient folders); medgw only "
            "reads it.",
            {}, nullptr, nullptr, Sensitivity::phi_path, true},
    KeySpec{"extended_path", ValueKind::path, "path", false, "",
            "Root of the SS-MIX2 extended storage, if the hospital has one.", {}, nullptr, nullptr,
            Sensitivity::phi_path, true},
};

std::vector<std::string> labels(const SourceConfig& source) {
  std::vector<std::string> out{source.name};
  if (!source.path("extended_path").empty()) out.push_back(source.name + std::string(extended_suffix));
  return out;
}

const SourceTypeSpec spec{"ssmix2", "The SS-MIX2 standardized storage (and extended storage) of the hospital's EHR.",
                          keys, "10m", "30s", labels};

std::vector<SourcePass> passes(const SourceConfig& source, const SourceContext&) {
  std::vector<SourcePass> out;
  out.push_back(folder_pass(source.name, source.path("path"), source,
                            std::make_shared<collectors::Ssmix2StandardProfile>()));
  if (const std::filesystem::path extended = source.path("extended_path"); !extended.empty()) {
    out.push_back(folder_pass(source.name + std::string(extended_suffix), extended, source,
                              std::make_shared<collectors::Ssmix2ExtendedProfile>()));
  }
  return out;
}

}  // namespace

const SourceType& ssmix2_source_type() {
  static const SourceType type{spec, passes};
  return type;
}

}  // namespace medgw::daemon
