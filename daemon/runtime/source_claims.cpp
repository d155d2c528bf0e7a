// Source types `dpc` and `receipt`: the monthly exports of the DPC survey
// files and of the レセプト (UKE) files, one folder each, read whole and
// filtered for opted-out patients (collectors/claims_profiles.hpp).
#include <daemon/runtime/builtin_sources.hpp>

#include <collectors/claims_profiles.hpp>

#include <array>

namespace medgw::daemon {
namespace {

constexpr std::array dpc_keys{
    KeySpec{"path", ValueKind::path, "path", true, "",
            "Folder the DPC survey files (様式1, EF, D, H, K...) are exported to; medgw only reads it.", {}, nullptr,
            nullptr, Sensitivity::phi_path, true},
};
constexpr std::array receipt_keys{
    KeySpec{"path", ValueKind::path, "path", true, "",
            "Folder the レセプト files (RECEIPTC.UKE ...) are exported to; medgw only reads it.", {}, nullptr, nullptr,
            Sensitivity::phi_path, true},
};

std::vector<std::string> own_name(const SourceConfig& source) { return {source.name}; }

const SourceTypeSpec dpc_spec{"dpc", "The DPC survey files exported by the hospital (monthly).", dpc_keys, "1h", "5m",
                              own_name};
const SourceTypeSpec receipt_spec{"receipt", "The レセプト (UKE) files exported by the hospital (monthly).",
                                  receipt_keys, "1h", "5m", own_name};

std::vector<SourcePass> dpc_passes(const SourceConfig& source, const SourceContext& context) {
  return {folder_pass(source.name, source.path("path"), source,
                      std::make_shared<collectors::DpcProfile>(context.facility_code))};
}

std::vector<SourcePass> receipt_passes(const SourceConfig& source, const SourceContext& context) {
  return {folder_pass(source.name, source.path("path"), source,
                      std::make_shared<collectors::ReceiptProfile>(context.facility_code))};
}

}  // namespace

const SourceType& dpc_source_type() {
  static const SourceType type{dpc_spec, dpc_passes};
  return type;
}

const SourceType& receipt_source_type() {
  static const SourceType type{receipt_spec, receipt_passes};
  return type;
}

}  // namespace medgw::daemon
