// Patient basics (ADT-00: PID, AL1, OBX), allergies (ADT-61: IAM),
// diagnoses (PPR-01: PRB) and the visit/admission timeline (ADT-01..52).
#include <daemon/media/extract.hpp>
#include <daemon/media/hl7_fields.hpp>

#include <collectors/ssmix2_types.hpp>

namespace medgw::media {
namespace {

using collectors::Hl7Message;
using collectors::Hl7Segment;

void read_names(const Hl7Segment& pid, PatientRecord& record) {
  const int count = hl7::repetitions(pid, 5);
  for (int rep = 1; rep <= count; ++rep) {
    const std::string_view kind = pid.component(5, 8, rep);
    const std::string name = hl7::person(pid, 5, false, rep);
    if (name.empty()) continue;
    if (kind == "P" || (kind.empty() && rep == 2)) {
      record.kana = name;
    } else if (kind == "I" || kind == "A" || (kind.empty() && rep == 1)) {
      record.name = name;
    }
  }
}

std::string address_of(const Hl7Segment& pid) {
  std::string address = hl7::text(pid, 11, 8);
  if (address.empty()) address = hl7::text(pid, 11, 4) + hl7::text(pid, 11, 3) + hl7::text(pid, 11, 1);
  const std::string postcode = hl7::text(pid, 11, 5);
  if (!postcode.empty() && !address.empty()) address = "〒" + postcode + " " + address;
  return address;
}

std::string date_part(std::string_view value) { return std::string(value.substr(0, 8)); }

// The message kind of `data_type` whose MSH-9 is `code_event` (for the cancel
// variants and the field holding the care date); nullptr when none.
const collectors::MessageKind* kind_of(std::string_view data_type, std::string_view code_event) {
  for (const collectors::MessageKind& kind : collectors::message_kinds()) {
    if (kind.data_type != data_type) continue;
    const std::string expected = std::string(kind.code) + "^" + std::string(kind.event);
    if (expected == code_event) return &kind;
  }
  return nullptr;
}

std::string event_date(const Hl7Message& message, const collectors::MessageKind* kind, std::string_view care_date) {
  using collectors::CareDateField;
  const auto value = [&](std::string_view id, int field) -> std::string {
    const Hl7Segment* s = message.find(id);
    return s ? std::string(s->component(field, 1)) : std::string();
  };
  std::string date;
  if (kind) {
    switch (kind->care_date) {
      case CareDateField::pv1_44: date = value("PV1", 44); break;
      case CareDateField::pv1_45: date = value("PV1", 45); break;
      case CareDateField::pv2_8: date = value("PV2", 8); break;
      case CareDateField::pv2_9: date = value("PV2", 9); break;
      case CareDateField::pv2_47: date = value("PV2", 47); break;
      case CareDateField::evn_6: date = value("EVN", 6); break;
      default: break;
    }
  }
  if (date.empty()) date = value("EVN", 6);
  if (date.empty() && care_date != "-") date = std::string(care_date);
  if (date.empty()) date = value("EVN", 2);
  return date;
}

}  // namespace

void extract_basics(const Hl7Message& message, const Origin& origin, PatientRecord& record) {
  if (const Hl7Segment* pid = message.find("PID")) {
    read_names(*pid, record);
    record.birth = date_part(pid->component(7, 1));
    record.sex = std::string(pid->component(8, 1));
    record.address = address_of(*pid);
    record.phone = hl7::text(*pid, 13, 12);
    if (record.phone.empty()) record.phone = hl7::text(*pid, 13, 1);
  }
  for (const Hl7Segment& segment : message.segments()) {
    if (segment.id() == "OBX") {
      record.profile.push_back(observation_of(segment));
    } else if (segment.id() == "AL1") {
      Allergy allergy{origin, hl7::coded(segment, 2), hl7::coded(segment, 3), hl7::text(segment, 3, 1),
                      hl7::coded(segment, 4), hl7::text(segment, 5), date_part(segment.component(6, 1))};
      record.allergies.push_back(std::move(allergy));
    }
  }
}

void extract_allergies(const Hl7Message& message, const Origin& origin, PatientRecord& record) {
  for (const Hl7Segment& iam : message.segments()) {
    if (iam.id() != "IAM") continue;
    if (iam.component(6, 1) == "D") continue;  // the action removes it
    std::string reaction;
    for (int rep = 1; rep <= hl7::repetitions(iam, 5); ++rep) {
      const std::string one = hl7::coded(iam, 5, rep);
      if (!one.empty()) reaction += (reaction.empty() ? "" : "、") + one;
    }
    std::string onset = hl7::text(iam, 11);
    if (onset.empty()) onset = hl7::text(iam, 12);
    record.allergies.push_back(Allergy{origin, hl7::coded(iam, 2), hl7::coded(iam, 3), hl7::text(iam, 3, 1),
                                       hl7::coded(iam, 4), reaction, onset});
  }
}

void extract_diagnoses(const Hl7Message& message, const Origin& origin, PatientRecord& record) {
  for (const Hl7Segment& prb : message.segments()) {
    if (prb.id() != "PRB") continue;
    if (prb.component(1, 1) == "DE") continue;  // deleted from the list
    Diagnosis diagnosis;
    diagnosis.origin = origin;
    diagnosis.name = hl7::coded(prb, 3);
    if (diagnosis.name.empty()) diagnosis.name = hl7::text(prb, 17);
    diagnosis.code = hl7::text(prb, 3, 1);
    if (prb.component(10, 3) == "I10") diagnosis.icd10 = hl7::text(prb, 10, 1);
    diagnosis.start = date_part(prb.component(16, 1));
    if (diagnosis.start.empty()) diagnosis.start = date_part(prb.component(7, 1));
    diagnosis.end = date_part(prb.component(9, 1));
    diagnosis.outcome = hl7::coded(prb, 14);
    diagnosis.category = hl7::coded(prb, 18);
    diagnosis.suspected = prb.component(13, 1) == "S" || diagnosis.name.find("疑い") != std::string::npos;
    record.diagnoses.push_back(std::move(diagnosis));
  }
}

void extract_encounter(const Hl7Message& message, const Origin& origin, std::string_view care_date,
                       PatientRecord& record) {
  Encounter encounter;
  encounter.origin = origin;
  encounter.event = message.message_type();
  const collectors::MessageKind* kind = kind_of(origin.data_type, encounter.event);
  encounter.cancel = kind != nullptr && kind->cancel;
  encounter.date = event_date(message, kind, care_date);
  if (const Hl7Segment* pv1 = message.find("PV1")) {
    encounter.patient_class = std::string(pv1->component(2, 1));
    std::string location = hl7::text(*pv1, 3, 1);
    for (int part = 2; part <= 3; ++part) {
      const std::string more = hl7::text(*pv1, 3, part);
      if (!more.empty()) location += "-" + more;
    }
    encounter.location = location;
    encounter.department = hl7::text(*pv1, 10, 1);
    encounter.doctor = hl7::person(*pv1, 7);
  }
  record.encounters.push_back(std::move(encounter));
}

}  // namespace medgw::media
