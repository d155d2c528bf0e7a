#pragma once
// A patient's SS-MIX2 history written as standardized storage (HL7 files in
// ISO-2022-JP) and a few extended-storage content folders. Updates rename the
// old version's flag 1 -> 2 and add a new flag-1 file; deletions rename the
// versions to flag 0 and add a flag-0 delete message (domain.md §1.4).
#include <tools/sample/hl7_builder.hpp>
#include <tools/sample/hospital.hpp>
#include <tools/sample/output.hpp>

#include <array>
#include <string>

namespace medgw::sample {

inline constexpr std::string_view standard_root = "ssmix2/std";
inline constexpr std::string_view extended_root = "ssmix2/ext";

struct Ssmix2Counts {
  std::array<std::uint64_t, 36> by_kind{};  // index into message_kinds()
  std::uint64_t flag1 = 0;
  std::uint64_t flag2 = 0;
  std::uint64_t flag0 = 0;
  std::uint64_t extended_files = 0;
  Ssmix2Counts& operator+=(const Ssmix2Counts& other);
};

// "999/901/9999013" for patient 9999013.
[[nodiscard]] std::string patient_folder(std::string_view patient_id);

void write_patient_ssmix2(const Settings& settings, const Hospital& hospital, const Patient& patient,
                          FileWriter& writer, Ssmix2Counts& counts);

}  // namespace medgw::sample
