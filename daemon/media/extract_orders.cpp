// Prescriptions and injections (OMP-01/02: RDE^O11 with RXE, TQ1, RXR, RXC),
// what was given (OMP-11/12: RAS^O17 with RXA), and the orders of exams and
// diets (OML-01, OMG-01/02/03, OMD: ORC with OBR or ODS).
#include <daemon/media/extract.hpp>
#include <daemon/media/hl7_fields.hpp>

#include <algorithm>

namespace medgw::media {
namespace {

using collectors::Hl7Message;
using collectors::Hl7Segment;

// One RXE with what follows it up to the next RXE/ORC.
struct DrugGroup {
  const Hl7Segment* rxe = nullptr;
  const Hl7Segment* tq1 = nullptr;
  const Hl7Segment* rxr = nullptr;
  std::vector<const Hl7Segment*> components;  // RXC: the drugs of an injection
};

std::string amount_with_unit(const Hl7Segment& s, int amount_field, int unit_field) {
  const std::string amount = hl7::text(s, amount_field);
  const std::string unit = hl7::coded(s, unit_field);
  return unit.empty() ? amount : amount + " " + unit;
}

void add_group(const DrugGroup& group, Medication& medication) {
  if (group.rxe == nullptr) return;
  const Hl7Segment& rxe = *group.rxe;
  MedicationLine base;
  base.form = hl7::coded(rxe, 6);
  if (group.tq1) {
    base.usage = hl7::coded_sub(group.tq1->component(3, 1));
    const std::string days = hl7::text(*group.tq1, 6, 1);
    if (!days.empty()) base.days = days + (group.tq1->component(6, 2) == "d" ? "日分" : " " + hl7::text(*group.tq1, 6, 2));
    base.start = hl7::text(*group.tq1, 7, 1);
    base.end = hl7::text(*group.tq1, 8, 1);
  }
  const std::string instructions = hl7::coded(rxe, 7);
  if (!instructions.empty()) base.usage += (base.usage.empty() ? "" : " ") + instructions;
  if (group.rxr) base.route = hl7::coded(*group.rxr, 1);
  if (group.components.empty()) {
    MedicationLine line = base;
    line.code = hl7::text(rxe, 2, 1);
    line.name = hl7::coded(rxe, 2);
    line.amount = hl7::text(rxe, 3);
    line.unit = hl7::coded(rxe, 5);
    line.total = amount_with_unit(rxe, 10, 11);
    medication.lines.push_back(std::move(line));
    return;
  }
  for (const Hl7Segment* rxc : group.components) {
    MedicationLine line = base;
    line.code = hl7::text(*rxc, 2, 1);
    line.name = hl7::coded(*rxc, 2);
    line.amount = hl7::text(*rxc, 3);
    line.unit = hl7::coded(*rxc, 4);
    medication.lines.push_back(std::move(line));
  }
}

void read_order_header(const Hl7Segment& orc, Medication& medication) {
  medication.order_no = hl7::text(orc, 2);
  medication.date = hl7::text(orc, 9);
  medication.doctor = hl7::person(orc, 12);
  medication.department = hl7::coded(orc, 17);
  medication.setting = hl7::coded(orc, 29);
}

void read_prescription(const Hl7Message& message, Medication& medication) {
  DrugGroup group;
  bool header = false;
  for (const Hl7Segment& s : message.segments()) {
    const std::string_view id = s.id();
    if (id == "ORC" || id == "RXE") {
      add_group(group, medication);
      group = DrugGroup{};
      if (id == "RXE") group.rxe = &s;
      if (id == "ORC" && !header) {
        read_order_header(s, medication);
        header = true;
      }
    } else if (id == "TQ1" && group.rxe && !group.tq1) {
      group.tq1 = &s;
    } else if (id == "RXR" && group.rxe && !group.rxr) {
      group.rxr = &s;
    } else if (id == "RXC" && group.rxe) {
      group.components.push_back(&s);
    }
  }
  add_group(group, medication);
}

void read_administration(const Hl7Message& message, Medication& medication) {
  medication.administration = true;
  bool header = false;
  for (const Hl7Segment& s : message.segments()) {
    if (s.id() == "ORC" && !header) {
      read_order_header(s, medication);
      header = true;
    } else if (s.id() == "RXA") {
      MedicationLine line;
      line.code = hl7::text(s, 5, 1);
      line.name = hl7::coded(s, 5);
      line.amount = hl7::text(s, 6);
      line.unit = hl7::coded(s, 7);
      line.start = hl7::text(s, 3);
      line.end = hl7::text(s, 4);
      medication.lines.push_back(std::move(line));
    } else if (s.id() == "RXR" && !medication.lines.empty() && medication.lines.back().route.empty()) {
      medication.lines.back().route = hl7::coded(s, 1);
    }
  }
  // What was given is dated by the administration (domain.md §1.6: RXA-3).
  if (!medication.lines.empty() && !medication.lines.front().start.empty()) medication.date = medication.lines.front().start;
}

void add_unique(std::vector<std::string>& list, std::string value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

}  // namespace

void extract_medication(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                        PatientRecord& record) {
  Medication medication;
  medication.origin = origin;
  if (message.message_type() == "RAS^O17") {
    read_administration(message, medication);
  } else {
    read_prescription(message, medication);
  }
  if (medication.date.empty() && care_date != "-") medication.date = std::string(care_date);
  record.medications.push_back(std::move(medication));
}

void extract_exam_order(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                        PatientRecord& record) {
  Exam exam;
  exam.origin = origin;
  exam.status = "order";
  for (const Hl7Segment& s : message.segments()) {
    const std::string_view id = s.id();
    if (id == "ORC" && exam.order_no.empty()) {
      exam.order_no = hl7::text(s, 2);
      exam.date = hl7::text(s, 9);
      exam.department = hl7::coded(s, 17);
    } else if (id == "OBR") {
      std::string name = hl7::coded(s, 4);
      std::replace(name.begin(), name.end(), '&', ' ');
      add_unique(exam.procedures, std::move(name));
    } else if (id == "ODS") {
      for (int rep = 1; rep <= hl7::repetitions(s, 3); ++rep) add_unique(exam.procedures, hl7::coded(s, 3, rep));
    } else if (id == "SPM" && !hl7::coded(s, 4).empty()) {
      add_unique(exam.procedures, "検体: " + hl7::coded(s, 4));
    } else if (id == "OBX") {
      exam.findings.push_back(observation_of(s));
    }
  }
  if (exam.date.empty() && care_date != "-") exam.date = std::string(care_date);
  record.exams.push_back(std::move(exam));
}

}  // namespace medgw::media
