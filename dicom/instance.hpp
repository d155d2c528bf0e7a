#pragma once
// What medgw reads of a stored DICOM instance (a Part 10 file: preamble,
// "DICM", file meta group, data set): the identifiers that place it in a
// study and name its patient, and a structural check of the whole file.
// The file is walked element by element; large values (pixel data) are
// skipped with a seek, never read, so a multi-GiB instance costs a few
// reads. Sequences of undefined length are followed item by item (at most
// 16 deep) so that a value running past the end of the file, or a file cut
// anywhere, is found.
#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace medgw::dicom {

struct InstanceFacts {
  std::string transfer_syntax;  // from the file meta group
  std::string sop_class;        // (0008,0016)
  std::string sop_instance;     // (0008,0018)
  std::string study_uid;        // (0020,000D)
  std::string series_uid;       // (0020,000E)
  std::string patient_id;       // (0010,0020), blanks trimmed; may be empty
  std::string issuer;           // (0010,0021), blanks trimmed
  std::string modality;         // (0008,0060)
  std::string study_date;       // (0008,0020) YYYYMMDD or empty
  std::string burned_in_annotation;  // (0028,0301) YES/NO or empty
  std::uint64_t size = 0;       // of the file
};

// Whether medgw accepts data sets in this transfer syntax (the native
// little endian ones and the usual compressed ones; not big endian, not
// deflated, not an unknown private one).
[[nodiscard]] bool supported_transfer_syntax(std::string_view uid);

// Errors (code: not_dicom, truncated, bad_structure, unsupported_transfer_syntax,
// missing_identifier, unreadable) never carry a value of the file.
[[nodiscard]] base::Result<InstanceFacts> read_instance(const std::filesystem::path& file);

// The Part 10 header medgw writes before a received data set: preamble,
// "DICM" and the file meta group naming the class, instance and transfer
// syntax (and medgw as the implementation).
[[nodiscard]] std::string file_meta(std::string_view sop_class, std::string_view sop_instance,
                                    std::string_view transfer_syntax);

}  // namespace medgw::dicom
