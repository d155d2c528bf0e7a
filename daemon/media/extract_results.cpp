// Lab results (OML-11: OUL^R22 with SPM, OBR, OBX), exam reports (OMG-11/12:
// OMI^Z23; OMG-13: ORU^R01), and the dispatch of a message by data type.
#include <daemon/media/extract.hpp>
#include <daemon/media/hl7_fields.hpp>

#include <algorithm>

namespace medgw::media {
namespace {

using collectors::Hl7Message;
using collectors::Hl7Segment;

std::string display_name(std::string name) {
  std::replace(name.begin(), name.end(), '&', ' ');  // "QTc 時間&Bazzet": sub-components
  return name;
}

}  // namespace

Observation observation_of(const Hl7Segment& obx) {
  Observation o;
  o.code = display_name(hl7::text(obx, 3, 1));
  o.name = display_name(hl7::coded(obx, 3));
  const std::string_view type = obx.field(2);
  const int count = std::max(1, hl7::repetitions(obx, 5));
  for (int rep = 1; rep <= count; ++rep) {
    const std::string one = (type == "CWE" || type == "CE" || type == "CNE") ? hl7::coded(obx, 5, rep)
                                                                            : hl7::unescape(obx.component(5, 1, rep));
    if (!one.empty()) o.value += (o.value.empty() ? "" : "\n") + one;
  }
  o.unit = hl7::text(obx, 6, 2);
  if (o.unit.empty()) o.unit = hl7::text(obx, 6, 1);
  o.range = hl7::text(obx, 7);
  for (int rep = 1; rep <= hl7::repetitions(obx, 8); ++rep) {
    const std::string flag = hl7::text(obx, 8, 1, rep);
    if (!flag.empty()) o.flag += (o.flag.empty() ? "" : " ") + flag;
  }
  o.status = hl7::text(obx, 11);
  o.time = hl7::text(obx, 14);
  return o;
}

std::string observations_text(const Hl7Message& message) {
  std::string text;
  for (const Hl7Segment& s : message.segments()) {
    if (s.id() != "OBX") continue;
    const Observation o = observation_of(s);
    text += o.name + ": " + o.value;
    if (!o.unit.empty()) text += " " + o.unit;
    if (!o.flag.empty() && o.flag != "N") text += " [" + o.flag + "]";
    text += "\n";
  }
  return text;
}

void extract_lab_results(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                         PatientRecord& record) {
  std::string specimen;
  std::string collected;
  std::string order_no;
  LabReport* current = nullptr;
  const std::size_t first = record.labs.size();
  for (const Hl7Segment& s : message.segments()) {
    const std::string_view id = s.id();
    if (id == "SPM") {
      specimen = hl7::coded(s, 4);
      collected = hl7::text(s, 17);
    } else if (id == "OBR") {
      LabReport report;
      report.origin = origin;
      report.specimen = specimen;
      report.group = display_name(hl7::coded(s, 4));
      report.order_no = hl7::text(s, 2);
      report.date = !collected.empty() ? collected : hl7::text(s, 7);
      record.labs.push_back(std::move(report));
      current = &record.labs.back();
    } else if (id == "ORC" && order_no.empty()) {
      order_no = hl7::text(s, 2);
    } else if (id == "OBX") {
      if (current == nullptr) {  // results without an OBR: one report for them
        record.labs.push_back(LabReport{origin, collected, specimen, "", order_no, {}});
        current = &record.labs.back();
      }
      current->results.push_back(observation_of(s));
    }
  }
  for (std::size_t i = first; i < record.labs.size(); ++i) {
    LabReport& report = record.labs[i];
    if (report.date.empty() && !report.results.empty()) report.date = report.results.front().time;
    if (report.date.empty() && care_date != "-") report.date = std::string(care_date);
    if (report.order_no.empty()) report.order_no = order_no;
  }
}

void extract_exam_report(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                         PatientRecord& record) {
  Exam exam;
  exam.origin = origin;
  exam.status = message.message_type() == "ORU^R01" ? "report" : "done";
  for (const Hl7Segment& s : message.segments()) {
    const std::string_view id = s.id();
    if (id == "ORC" && exam.order_no.empty()) {
      exam.order_no = hl7::text(s, 2);
      exam.department = hl7::coded(s, 17);
      if (exam.date.empty()) exam.date = hl7::text(s, 9);
    } else if (id == "OBR") {
      std::string name = display_name(hl7::coded(s, 4));
      if (!name.empty() && std::find(exam.procedures.begin(), exam.procedures.end(), name) == exam.procedures.end()) {
        exam.procedures.push_back(std::move(name));
      }
      if (exam.order_no.empty()) exam.order_no = hl7::text(s, 2);
      const std::string observed = hl7::text(s, 7);
      if (!observed.empty()) exam.date = observed;
    } else if (id == "OBX") {
      exam.findings.push_back(observation_of(s));
    }
  }
  if (exam.date.empty() && care_date != "-") exam.date = std::string(care_date);
  record.exams.push_back(std::move(exam));
}

bool extract_message(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                     PatientRecord& record) {
  const std::string_view type = origin.data_type;
  if (type == "ADT-00") {
    extract_basics(message, origin, record);
  } else if (type == "ADT-61") {
    extract_allergies(message, origin, record);
  } else if (type == "PPR-01") {
    extract_diagnoses(message, origin, record);
  } else if (type.starts_with("ADT-")) {
    extract_encounter(message, origin, care_date, record);
  } else if (type == "OMP-01" || type == "OMP-02" || type == "OMP-11" || type == "OMP-12") {
    extract_medication(message, origin, care_date, record);
  } else if (type == "OML-11") {
    extract_lab_results(message, origin, care_date, record);
  } else if (type == "OMG-11" || type == "OMG-12" || type == "OMG-13") {
    extract_exam_report(message, origin, care_date, record);
  } else if (type == "OML-01" || type == "OMG-01" || type == "OMG-02" || type == "OMG-03" || type == "OMD") {
    extract_exam_order(message, origin, care_date, record);
  } else {
    return false;
  }
  return true;
}

}  // namespace medgw::media
