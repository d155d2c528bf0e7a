#include <collectors/anomaly.hpp>

namespace medgw::collectors {

std::string_view anomaly_name(Anomaly anomaly) {
  switch (anomaly) {
    case Anomaly::bad_file_name: return "bad_file_name";
    case Anomaly::wrong_depth: return "wrong_depth";
    case Anomaly::patient_folder_mismatch: return "patient_folder_mismatch";
    case Anomaly::prefix_folder_mismatch: return "prefix_folder_mismatch";
    case Anomaly::date_folder_mismatch: return "date_folder_mismatch";
    case Anomaly::type_folder_mismatch: return "type_folder_mismatch";
    case Anomaly::encoding_invalid: return "encoding_invalid";
    case Anomaly::hl7_invalid: return "hl7_invalid";
    case Anomaly::hl7_bad_segment: return "hl7_bad_segment";
    case Anomaly::pid_mismatch: return "pid_mismatch";
    case Anomaly::message_type_unexpected: return "message_type_unexpected";
    case Anomaly::content_folder_invalid: return "content_folder_invalid";
    case Anomaly::condition_flag_0: return "condition_flag_0";
    case Anomaly::unknown_kind: return "unknown_kind";
    case Anomaly::lf_line_endings: return "lf_line_endings";
    case Anomaly::truncated_last_line: return "truncated_last_line";
    case Anomaly::field_count: return "field_count";
    case Anomaly::facility_mismatch: return "facility_mismatch";
    case Anomaly::month_mismatch: return "month_mismatch";
    case Anomaly::uke_structure: return "uke_structure";
    case Anomaly::uke_receipt_gap: return "uke_receipt_gap";
    case Anomaly::uke_go_missing: return "uke_go_missing";
    case Anomaly::uke_go_totals: return "uke_go_totals";
    case Anomaly::uke_days_count: return "uke_days_count";
    case Anomaly::uke_eof_marker_missing: return "uke_eof_marker_missing";
    case Anomaly::fhir_invalid_json: return "fhir_invalid_json";
    case Anomaly::fhir_unknown_type: return "fhir_unknown_type";
    case Anomaly::fhir_missing_id: return "fhir_missing_id";
    case Anomaly::fhir_dangling_reference: return "fhir_dangling_reference";
    case Anomaly::count_: break;
  }
  return "unknown";
}

bool is_notice(Anomaly anomaly) {
  return anomaly == Anomaly::condition_flag_0 || anomaly == Anomaly::unknown_kind || anomaly == Anomaly::lf_line_endings ||
         anomaly == Anomaly::uke_eof_marker_missing;
}

std::vector<std::string_view> anomaly_names(AnomalySet set) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if ((set & (AnomalySet{1} << i)) != 0) names.push_back(anomaly_name(static_cast<Anomaly>(i)));
  }
  return names;
}

}  // namespace medgw::collectors
