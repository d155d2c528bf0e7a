#pragma once
// Problems found in collected files, by kind. A file with an anomaly is still
// collected (flagged in its manifest meta) unless it cannot be read; status
// counts the files currently indexed with each kind.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

enum class Anomaly : unsigned {
  bad_file_name,            // outside the SS-MIX2 name grammar
  wrong_depth,              // not at pid3/pid3/pid/date/type/(content/)file
  patient_folder_mismatch,  // the name's patient ID differs from its folder
  prefix_folder_mismatch,   // levels 1-2 are not pid[0:3]/pid[3:6]
  date_folder_mismatch,     // the name's date differs from its folder
  type_folder_mismatch,     // the name's data type differs from its folder
  encoding_invalid,         // not decodable in the source's encoding (ISO-2022-JP, CP932)
  hl7_invalid,              // no MSH segment or unreadable delimiters
  hl7_bad_segment,          // lines that are not HL7 segments (junk appended)
  pid_mismatch,             // PID-3 differs from the patient ID in the name
  message_type_unexpected,  // MSH-9 is not a message type of the data type
  content_folder_invalid,   // extended storage folder name outside the grammar
  condition_flag_0,         // notice: the storage marks the item deleted/invalid
  // DPC and UKE files (domain.md §2, §3)
  unknown_kind,             // notice: a file of no known DPC/UKE kind (kept as it is)
  lf_line_endings,          // notice: LF without CR
  truncated_last_line,      // the file does not end with a line end (cut off?)
  field_count,              // a record with the wrong number of fields for its kind
  facility_mismatch,        // 施設コード/医療機関コード differs within the file or from facility.code
  month_mismatch,           // the month in the name or folder differs from the content
  uke_structure,            // IR not first, GO not last, repeated IR/GO, records outside a receipt...
  uke_receipt_gap,          // RE レセプト番号 not 1..n without gaps
  uke_go_missing,           // no GO record
  uke_go_totals,            // GO 総件数 / 総合計点数 differ from the receipts
  uke_days_count,           // Σ算定日 != 回数 on SI/IY/TO
  uke_eof_marker_missing,   // notice: no 0x1A after the last record (common in exports)
  // FHIR files (docs/fhir.md)
  fhir_invalid_json,        // a line or file that is not JSON (or not a resource object)
  fhir_unknown_type,        // a resourceType that is not one of FHIR R4's
  fhir_missing_id,          // a resource without an id (a Bundle entry may lack one)
  fhir_dangling_reference,  // a reference inside a Bundle to nothing in it (urn:uuid)
  count_,
};

inline constexpr std::size_t anomaly_count = static_cast<std::size_t>(Anomaly::count_);
using AnomalySet = std::uint32_t;

[[nodiscard]] constexpr AnomalySet bit(Anomaly anomaly) { return AnomalySet{1} << static_cast<unsigned>(anomaly); }
[[nodiscard]] std::string_view anomaly_name(Anomaly anomaly);
// Notices are reported apart from problems (flag 0 is how deletions look).
[[nodiscard]] bool is_notice(Anomaly anomaly);
[[nodiscard]] std::vector<std::string_view> anomaly_names(AnomalySet set);

}  // namespace medgw::collectors
