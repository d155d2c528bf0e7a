// The viewer's JSON of one patient. Keys are short but readable; empty values
// are left out so a patient file stays small; lists are sorted newest first
// (the viewer shows the latest at the top and draws trends from the dates).
#include <daemon/media/patient_record.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <map>

namespace medgw::media {
namespace {

void put(base::JsonWriter& json, std::string_view key, const std::string& value) {
  if (!value.empty()) json.field(key, value);
}

void put_origin(base::JsonWriter& json, const Origin& origin) {
  put(json, "type", origin.data_type);
  put(json, "ts", origin.timestamp);
  put(json, "warn", origin.warning);
}

void put_observations(base::JsonWriter& json, std::string_view key, const std::vector<Observation>& items) {
  if (items.empty()) return;
  json.key(key).begin_array();
  for (const Observation& o : items) {
    json.begin_object();
    put(json, "code", o.code);
    put(json, "name", o.name);
    put(json, "value", o.value);
    put(json, "unit", o.unit);
    put(json, "range", o.range);
    put(json, "flag", o.flag);
    put(json, "status", o.status);
    put(json, "time", o.time);
    json.end_object();
  }
  json.end_array();
}

template <class T>
void newest_first(std::vector<T>& items) {
  std::stable_sort(items.begin(), items.end(), [](const T& a, const T& b) {
    return a.date != b.date ? a.date > b.date : a.origin.timestamp > b.origin.timestamp;
  });
}

void put_medications(base::JsonWriter& json, const std::vector<Medication>& items) {
  json.key("medications").begin_array();
  for (const Medication& m : items) {
    json.begin_object();
    put_origin(json, m.origin);
    put(json, "date", m.date);
    put(json, "order", m.order_no);
    put(json, "dept", m.department);
    put(json, "doctor", m.doctor);
    put(json, "setting", m.setting);
    if (m.administration) json.field("given", true);
    json.key("lines").begin_array();
    for (const MedicationLine& l : m.lines) {
      json.begin_object();
      put(json, "code", l.code);
      put(json, "name", l.name);
      put(json, "amount", l.amount);
      put(json, "unit", l.unit);
      put(json, "form", l.form);
      put(json, "usage", l.usage);
      put(json, "days", l.days);
      put(json, "route", l.route);
      put(json, "start", l.start);
      put(json, "end", l.end);
      put(json, "total", l.total);
      json.end_object();
    }
    json.end_array().end_object();
  }
  json.end_array();
}

void put_clinical(base::JsonWriter& json, PatientRecord& r) {
  json.key("allergies").begin_array();
  for (const Allergy& a : r.allergies) {
    json.begin_object();
    put_origin(json, a.origin);
    put(json, "kind", a.type);
    put(json, "allergen", a.allergen);
    put(json, "code", a.code);
    put(json, "severity", a.severity);
    put(json, "reaction", a.reaction);
    put(json, "onset", a.onset);
    json.end_object();
  }
  json.end_array().key("diagnoses").begin_array();
  for (const Diagnosis& d : r.diagnoses) {
    json.begin_object();
    put_origin(json, d.origin);
    put(json, "name", d.name);
    put(json, "code", d.code);
    put(json, "icd10", d.icd10);
    put(json, "start", d.start);
    put(json, "end", d.end);
    put(json, "outcome", d.outcome);
    put(json, "category", d.category);
    if (d.suspected) json.field("suspected", true);
    json.end_object();
  }
  json.end_array().key("encounters").begin_array();
  for (const Encounter& e : r.encounters) {
    json.begin_object();
    put_origin(json, e.origin);
    put(json, "event", e.event);
    put(json, "date", e.date);
    put(json, "class", e.patient_class);
    put(json, "location", e.location);
    put(json, "dept", e.department);
    put(json, "doctor", e.doctor);
    if (e.cancel) json.field("cancel", true);
    json.end_object();
  }
  json.end_array();
}

void put_reports(base::JsonWriter& json, PatientRecord& r) {
  json.key("labs").begin_array();
  for (const LabReport& l : r.labs) {
    json.begin_object();
    put_origin(json, l.origin);
    put(json, "date", l.date);
    put(json, "specimen", l.specimen);
    put(json, "group", l.group);
    put(json, "order", l.order_no);
    put_observations(json, "results", l.results);
    json.end_object();
  }
  json.end_array().key("exams").begin_array();
  for (const Exam& e : r.exams) {
    json.begin_object();
    put_origin(json, e.origin);
    put(json, "date", e.date);
    put(json, "order", e.order_no);
    put(json, "dept", e.department);
    put(json, "status", e.status);
    json.key("procedures").begin_array();
    for (const std::string& p : e.procedures) json.value(p);
    json.end_array();
    put_observations(json, "findings", e.findings);
    json.end_object();
  }
  json.end_array().key("documents").begin_array();
  for (const Document& d : r.documents) {
    json.begin_object();
    put_origin(json, d.origin);
    put(json, "date", d.date);
    put(json, "title", d.title);
    put(json, "text", d.text);
    json.key("files").begin_array();
    for (const DocumentFile& f : d.files) {
      json.begin_object();
      put(json, "name", f.name);
      put(json, "mime", f.mime);
      put(json, "ref", f.ref);
      json.field("size", static_cast<std::uint64_t>(f.size));
      json.end_object();
    }
    json.end_array().end_object();
  }
  json.end_array();
}

// One row per allergen: ADT-00 (AL1) and ADT-61 (IAM) often both list it,
// and a message may repeat it. ADT-61, the allergy carrier, wins; then the
// entry that says more (severity, reaction, onset).
void merge_allergies(std::vector<Allergy>& allergies) {
  const auto detail = [](const Allergy& a) {
    return (a.origin.data_type == "ADT-61" ? 8 : 0) + !a.severity.empty() + !a.reaction.empty() + !a.onset.empty();
  };
  std::vector<Allergy> merged;
  std::map<std::string, std::size_t> seen;
  for (Allergy& allergy : allergies) {
    const std::string key = allergy.code.empty() ? allergy.allergen : allergy.code;
    const auto [at, first] = seen.try_emplace(key, merged.size());
    if (first) {
      merged.push_back(std::move(allergy));
    } else if (detail(allergy) > detail(merged[at->second])) {
      merged[at->second] = std::move(allergy);
    }
  }
  allergies = std::move(merged);
}

}  // namespace

std::string to_json(PatientRecord& r) {
  merge_allergies(r.allergies);
  newest_first(r.encounters);
  newest_first(r.medications);
  newest_first(r.labs);
  newest_first(r.exams);
  newest_first(r.documents);
  base::JsonWriter json;
  json.begin_object();
  json.field("format", "medgw-media-patient/1");
  put(json, "source", r.source);
  json.field("id", r.id);
  put(json, "name", r.name);
  put(json, "kana", r.kana);
  put(json, "birth", r.birth);
  put(json, "sex", r.sex);
  put(json, "address", r.address);
  put(json, "phone", r.phone);
  put_observations(json, "profile", r.profile);
  put_clinical(json, r);
  put_medications(json, r.medications);
  put_reports(json, r);
  json.key("unread").begin_array();
  for (const UnreadItem& u : r.unread) {
    json.begin_object();
    put(json, "type", u.data_type);
    put(json, "date", u.date);
    put(json, "problem", u.problem);
    json.end_object();
  }
  json.end_array();
  json.field("superseded", static_cast<std::uint64_t>(r.superseded));
  json.field("deleted", static_cast<std::uint64_t>(r.deleted));
  json.end_object();
  return json.take();
}

}  // namespace medgw::media
