#include <collectors/ssmix2_profile.hpp>

#include <base/text.hpp>

#include <collectors/hl7.hpp>
#include <collectors/ssmix2_name.hpp>
#include <collectors/ssmix2_types.hpp>
#include <claims/text_encoding.hpp>
#include <claims/text_split.hpp>

#include <base/json.hpp>

#include <optional>
#include <vector>

namespace medgw::collectors {
namespace {


bool valid_segment_id(std::string_view id) {
  if (id.size() != 3 || id[0] < 'A' || id[0] > 'Z') return false;
  for (char c : id.substr(1)) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

void finish_meta(base::JsonWriter& json, AnomalySet anomalies) {
  if (anomalies != 0) {
    json.key("anomalies").begin_array();
    for (std::string_view name : anomaly_names(anomalies)) json.value(name);
    json.end_array();
  }
  json.end_object();
}

// MSH/PID checks of an HL7 file's content; adds the message type to `json`.
// Only MSH and the first PID are split into fields: this runs on every file.
AnomalySet check_hl7(std::string_view content, std::string_view patient_id, std::string_view data_type,
                     base::JsonWriter& json, std::string& content_patient_id) {
  auto text = claims::decode_iso2022jp(content);
  if (!text) return bit(Anomaly::encoding_invalid);
  const std::string_view message = hl7_strip_framing(*text);
  const auto delimiters = hl7_delimiters(message);
  if (!delimiters) return bit(Anomaly::hl7_invalid);
  AnomalySet anomalies = 0;
  std::optional<Hl7Segment> msh;
  std::optional<Hl7Segment> pid;
  for_each_hl7_line(message, [&](std::string_view line) {
    const std::string_view id = line.substr(0, line.find(delimiters->field));
    if (!valid_segment_id(id)) anomalies |= bit(Anomaly::hl7_bad_segment);
    if (!msh && id == "MSH") msh.emplace(line, *delimiters);
    if (!pid && id == "PID") pid.emplace(line, *delimiters);
    return true;
  });
  if (!msh) return anomalies | bit(Anomaly::hl7_invalid);
  const std::string type = std::string(msh->component(9, 1)) + "^" + std::string(msh->component(9, 2));
  json.field("message_type", type);
  if (is_standard_data_type(data_type) && !expected_message(data_type, type)) anomalies |= bit(Anomaly::message_type_unexpected);
  if (!pid || (!patient_id.empty() && pid->component(3, 1) != patient_id)) anomalies |= bit(Anomaly::pid_mismatch);
  if (pid && pid->component(3, 1) != patient_id) content_patient_id = std::string(pid->component(3, 1));
  return anomalies;
}

// The date folder of a path that shows an encounter (a visit, an admission,
// a dated order or result): not "-", and not a planned event (入院予定,
// 転科・転棟予定, 退院予定 may lie in the future).
std::string encounter_date(const std::vector<std::string_view>& parts) {
  if (parts.size() < 5 || parts[3].size() != 8 || !base::all_digits(parts[3])) return {};
  const std::string_view type = parts[4];
  if (type == "ADT-21" || type == "ADT-41" || type == "ADT-51") return {};
  return std::string(parts[3]);
}

// The patients a path names (its patient folder, and the file name or content
// folder name, which may disagree with it) and its date folder.
Exclusion ssmix2_exclusion(std::string_view relative_path, const PatientPolicy& policy, std::size_t name_part) {
  const auto parts = claims::split_on(relative_path, '/');
  if (parts.size() >= 3 && policy.opted_out(parts[2])) return Exclusion::opted_out;
  if (parts.size() > name_part) {
    const std::string_view name = parts[name_part];
    if (policy.opted_out(name.substr(0, name.find('_')))) return Exclusion::opted_out;
  }
  // Date folders before the window are skipped; "-" (no date) is kept.
  if (parts.size() >= 5 && parts[3].size() == 8 && base::all_digits(parts[3]) && policy.before_since(parts[3])) {
    return Exclusion::before_since;
  }
  // The notice period: everything of the patient, dated or not, waits.
  if (policy.notice && parts.size() >= 5) {
    const std::string date = encounter_date(parts);
    if (policy.notice_pending(parts[2], date)) return Exclusion::notice_pending;
  }
  return Exclusion::none;
}

std::optional<Encounter> ssmix2_encounter(std::string_view relative_path, std::string_view source) {
  const auto parts = claims::split_on(relative_path, '/');
  if (parts.size() < 5) return std::nullopt;
  // Undated data (the "-" folder, planned events) makes the patient known, without a date.
  return Encounter{std::string(parts[2]), encounter_date(parts), std::string(source) + " " + std::string(parts[4])};
}

}  // namespace

std::string ssmix2_patient_folder(std::string_view patient_id) {
  const std::string_view first = patient_id.substr(0, 3);
  const std::string_view second = patient_id.size() > 3 ? patient_id.substr(3, 3) : std::string_view();
  return std::string(first) + "/" + std::string(second) + "/" + std::string(patient_id) + "/";
}

Exclusion Ssmix2StandardProfile::exclusion(std::string_view relative_path, const PatientPolicy& policy) const {
  return ssmix2_exclusion(relative_path, policy, 5);  // the file name
}

std::optional<Encounter> Ssmix2StandardProfile::encounter(std::string_view relative_path) const {
  return ssmix2_encounter(relative_path, "ssmix2");
}

std::string Ssmix2StandardProfile::patient_folder(std::string_view patient_id) const {
  return ssmix2_patient_folder(patient_id);
}

Exclusion Ssmix2ExtendedProfile::exclusion(std::string_view relative_path, const PatientPolicy& policy) const {
  return ssmix2_exclusion(relative_path, policy, 5);  // the content folder
}

std::optional<Encounter> Ssmix2ExtendedProfile::encounter(std::string_view relative_path) const {
  return ssmix2_encounter(relative_path, "ssmix2-ext");
}

std::string Ssmix2ExtendedProfile::patient_folder(std::string_view patient_id) const {
  return ssmix2_patient_folder(patient_id);
}

Analysis Ssmix2StandardProfile::analyze(std::string_view relative_path, std::optional<std::string_view> content) const {
  Analysis analysis;
  const Ssmix2PathCheck check = check_ssmix2_path(relative_path);
  for (Ssmix2PathProblem problem : check.problems) {
    switch (problem) {
      case Ssmix2PathProblem::bad_file_name: analysis.anomalies |= bit(Anomaly::bad_file_name); break;
      case Ssmix2PathProblem::wrong_depth: analysis.anomalies |= bit(Anomaly::wrong_depth); break;
      case Ssmix2PathProblem::patient_mismatch: analysis.anomalies |= bit(Anomaly::patient_folder_mismatch); break;
      case Ssmix2PathProblem::prefix_mismatch: analysis.anomalies |= bit(Anomaly::prefix_folder_mismatch); break;
      case Ssmix2PathProblem::date_mismatch: analysis.anomalies |= bit(Anomaly::date_folder_mismatch); break;
      case Ssmix2PathProblem::type_mismatch: analysis.anomalies |= bit(Anomaly::type_folder_mismatch); break;
    }
  }
  // The meta states what the path cannot: the file name's fields (patient,
  // date, type, order, timestamp, department, flag) are the member's name in
  // the object, parsed the same way at the central (domain.md), so they are
  // not repeated per file (issue 23: bytes on the uplink).
  base::JsonWriter json;
  json.begin_object().field("storage", "standard");
  std::string data_type;
  if (check.name) {
    const Ssmix2FileName& name = *check.name;
    analysis.patient_id = name.patient_id;
    data_type = name.data_type;
    if (name.condition_flag == '0') analysis.anomalies |= bit(Anomaly::condition_flag_0);
  } else {
    // Without a parsable name, the patient folder still tells whose it is.
    const auto parts = claims::split_on(relative_path, '/');
    if (parts.size() >= 3) analysis.patient_id = std::string(parts[2]);
  }
  if (content) {
    analysis.anomalies |= check_hl7(*content, analysis.patient_id, data_type, json, analysis.content_patient_id);
  }
  finish_meta(json, analysis.anomalies);
  analysis.meta_json = json.take();
  return analysis;
}

std::optional<ContentFolderName> parse_content_folder_name(std::string_view name) {
  const auto fields = claims::split_on(name, '_');
  if (fields.size() < 6) return std::nullopt;
  ContentFolderName out;
  out.patient_id = std::string(fields[0]);
  out.care_date = std::string(fields[1]);
  out.data_type = std::string(fields[2]);
  const std::string_view flag = fields.back();
  // 6 fields: pid, date, type, key, timestamp, flag; 7: ... timestamp, dept, flag.
  // A key holding '_' makes more: read the ends first, the key is the rest.
  const bool with_department = fields.size() >= 7;
  const std::size_t timestamp_at = fields.size() - (with_department ? 3 : 2);
  out.timestamp = std::string(fields[timestamp_at]);
  if (with_department) out.department = std::string(fields[fields.size() - 2]);
  for (std::size_t i = 3; i < timestamp_at; ++i) {
    if (i > 3) out.key.push_back('_');
    out.key.append(fields[i]);
  }
  if (out.patient_id.empty() || !(out.care_date == "-" || (out.care_date.size() == 8 && base::all_digits(out.care_date))) ||
      out.timestamp.size() < 14 || out.timestamp.size() > 17 || !base::all_digits(out.timestamp) || flag.size() != 1 ||
      (flag[0] != '0' && flag[0] != '1' && flag[0] != '2') || out.key.empty()) {
    return std::nullopt;
  }
  out.condition_flag = flag[0];
  return out;
}

Analysis Ssmix2ExtendedProfile::analyze(std::string_view relative_path, std::optional<std::string_view> content) const {
  (void)content;  // documents (CDA, PDF, images) are carried as they are
  Analysis analysis;
  const auto parts = claims::split_on(relative_path, '/');
  // As the standard storage's: what the path states is not repeated.
  base::JsonWriter json;
  json.begin_object().field("storage", "extended");
  if (parts.size() < 7) {
    analysis.anomalies |= bit(Anomaly::wrong_depth);
    if (parts.size() >= 3) analysis.patient_id = std::string(parts[2]);
  } else {
    analysis.patient_id = std::string(parts[2]);
    const std::string_view pid = parts[2];
    if (parts[0] != pid.substr(0, 3) || parts[1] != (pid.size() > 3 ? pid.substr(3, 3) : std::string_view())) {
      analysis.anomalies |= bit(Anomaly::prefix_folder_mismatch);
    }
    if (auto folder = parse_content_folder_name(parts[5])) {
      if (folder->patient_id != pid) analysis.anomalies |= bit(Anomaly::patient_folder_mismatch);
      if (folder->care_date != parts[3]) analysis.anomalies |= bit(Anomaly::date_folder_mismatch);
      if (folder->condition_flag == '0') analysis.anomalies |= bit(Anomaly::condition_flag_0);
    } else {
      analysis.anomalies |= bit(Anomaly::content_folder_invalid);
    }
  }
  finish_meta(json, analysis.anomalies);
  analysis.meta_json = json.take();
  return analysis;
}

}  // namespace medgw::collectors
