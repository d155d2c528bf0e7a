#pragma once
// The DPC and receipt (UKE) sources: which kind a file is (by name, then by
// content), and a streaming validation of its records (domain.md §2, §3) into
// manifest meta and anomalies. Files may be hundreds of MiB: everything here
// works block by block, holding one line at a time.
#include <collectors/source_profile.hpp>

#include <string>

namespace medgw::collectors {

// DPC survey files: FF1 (様式1), FF4 (様式4), EFn/EFg (EF統合), Dn, Hn; any
// other file is kept as an unknown DPC kind. Tab-separated CP932 text.
class DpcProfile final : public StreamingProfile {
 public:
  // `facility_code`: the configured 9-digit code the files must carry (files
  // with an all-zero code, as in anonymised samples, are not compared).
  explicit DpcProfile(std::string facility_code) : facility_code_(std::move(facility_code)) {}
  [[nodiscard]] std::unique_ptr<ContentCheck> stream_check(std::string_view relative_path) const override;
  [[nodiscard]] Exclusion exclusion(std::string_view relative_path, const PatientPolicy& policy) const override;
  // Every file gets the filter (a file of unknown kind is searched in every
  // field), so an export nobody anticipated cannot carry an opted-out patient.
  [[nodiscard]] std::unique_ptr<OptOutFilter> optout_filter(std::string_view relative_path,
                                                            std::shared_ptr<const PatientPolicy> policy) const override;
  [[nodiscard]] std::unique_ptr<OptOutFilter> late_rows_filter(std::string_view relative_path,
                                                               std::shared_ptr<const PatientPolicy> policy,
                                                               OnlyPatients only) const override;
  [[nodiscard]] std::string_view claims_format() const override { return "dpc"; }

 protected:
  [[nodiscard]] Analysis analyze_path(std::string_view relative_path) const override;

 private:
  std::string facility_code_;
};

// レセプト電算 files: RECEIPTC.UKE (医科/DPC), RECEIPTY.UKE (調剤), in
// per-month folders or not; any other file is kept as an unknown kind.
class ReceiptProfile final : public StreamingProfile {
 public:
  explicit ReceiptProfile(std::string facility_code) : facility_code_(std::move(facility_code)) {}
  [[nodiscard]] std::unique_ptr<ContentCheck> stream_check(std::string_view relative_path) const override;
  [[nodiscard]] Exclusion exclusion(std::string_view relative_path, const PatientPolicy& policy) const override;
  // Every file gets the filter (a file of unknown kind is searched in every
  // field), so an export nobody anticipated cannot carry an opted-out patient.
  [[nodiscard]] std::unique_ptr<OptOutFilter> optout_filter(std::string_view relative_path,
                                                            std::shared_ptr<const PatientPolicy> policy) const override;
  [[nodiscard]] std::unique_ptr<OptOutFilter> late_rows_filter(std::string_view relative_path,
                                                               std::shared_ptr<const PatientPolicy> policy,
                                                               OnlyPatients only) const override;
  [[nodiscard]] std::string_view claims_format() const override { return "receipt"; }

 protected:
  [[nodiscard]] Analysis analyze_path(std::string_view relative_path) const override;

 private:
  std::string facility_code_;
};

}  // namespace medgw::collectors
