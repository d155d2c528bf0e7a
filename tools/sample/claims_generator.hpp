#pragma once
// Monthly claim exports: レセプト電算 RECEIPTC.UKE (医科, CP932, CRLF, 0x1A at
// the end, GO totals consistent per domain.md §3.4) and DPC survey files
// (FF1 様式1, EFn EF統合, Dn, Hn; tab-separated CP932 with CRLF; §2).
#include <tools/sample/hospital.hpp>
#include <tools/sample/output.hpp>

#include <cstdint>
#include <string_view>

namespace medgw::sample {

inline constexpr std::string_view receipt_root = "receipt";
inline constexpr std::string_view dpc_root = "dpc";

struct ClaimCounts {
  std::uint64_t receipt_files = 0;
  std::uint64_t receipts = 0;
  std::uint64_t dpc_files = 0;
  std::uint64_t dpc_patients = 0;
  std::uint64_t ef_rows = 0;
};

// Whether a patient has an outpatient receipt / a DPC inpatient record in the
// month starting at `month` (deterministic in seed, month and index).
[[nodiscard]] bool has_receipt(const Settings& settings, Day month, std::size_t index);
[[nodiscard]] bool has_dpc_stay(const Settings& settings, Day month, std::size_t index);

void write_receipt_files(const Settings& settings, const Hospital& hospital, FileWriter& writer, ClaimCounts& counts);
void write_dpc_files(const Settings& settings, const Hospital& hospital, FileWriter& writer, ClaimCounts& counts);

}  // namespace medgw::sample
