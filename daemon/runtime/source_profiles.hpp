#pragma once
// The collectors' profile for each kind of source, built once per facility
// and shared by `collect --once` and the daemon.
#include <daemon/config/sources.hpp>

#include <collectors/claims_profiles.hpp>
#include <collectors/optout_register.hpp>
#include <collectors/ssmix2_profile.hpp>

#include <string>
#include <vector>

namespace medgw::daemon {

class SourceProfiles {
 public:
  explicit SourceProfiles(const std::string& facility_code) : dpc_(facility_code), receipt_(facility_code) {}

  [[nodiscard]] const collectors::SourceProfile& of(CollectorKind kind) const {
    switch (kind) {
      case CollectorKind::ssmix2_standard: return standard_;
      case CollectorKind::ssmix2_extended: return extended_;
      case CollectorKind::dpc: return dpc_;
      case CollectorKind::receipt: return receipt_;
    }
    return standard_;
  }

  // What the opt-out register looks through when a patient is newly listed.
  [[nodiscard]] std::vector<collectors::PatientSource> patient_sources(const Config& config) const {
    std::vector<collectors::PatientSource> sources;
    for (const CollectorSource& source : collector_sources(config)) sources.push_back({source.label, &of(source.kind)});
    return sources;
  }

 private:
  collectors::Ssmix2StandardProfile standard_;
  collectors::Ssmix2ExtendedProfile extended_;
  collectors::DpcProfile dpc_;
  collectors::ReceiptProfile receipt_;
};

}  // namespace medgw::daemon
