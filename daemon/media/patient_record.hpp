#pragma once
// What the viewer shows of one patient, extracted from the SS-MIX2 messages at
// export time (decoded from ISO-2022-JP before any split, as the collector
// does) and handed to the viewer as UTF-8 JSON. Only the current version of
// each item (condition flag 1, the newest of its logical key) is extracted;
// superseded (flag 2) and deleted (flag 0) versions are only counted.
#include <cstdint>
#include <string>
#include <vector>

namespace medgw::media {

// Where an entry came from: its data type and time, and a warning when the
// file had a problem the viewer should show beside it (e.g. PID-3 differs).
struct Origin {
  std::string data_type;
  std::string timestamp;  // the file name's 発生日時
  std::string warning;    // an anomaly name, or empty
};

struct Observation {  // one OBX: a lab value, a vital sign, a finding
  std::string code;
  std::string name;
  std::string value;
  std::string unit;
  std::string range;
  std::string flag;    // H, L, HH, LL, N, A...
  std::string status;  // F, C, P...
  std::string time;
};

struct Allergy {
  Origin origin;
  std::string type;
  std::string allergen;
  std::string code;
  std::string severity;
  std::string reaction;
  std::string onset;
};

struct Diagnosis {
  Origin origin;
  std::string name;
  std::string code;
  std::string icd10;
  std::string start;
  std::string end;
  std::string outcome;
  std::string category;  // 主診断 etc.
  bool suspected = false;
};

struct Encounter {
  Origin origin;
  std::string event;  // "ADT^A01"
  std::string date;   // the care date or the event time
  std::string patient_class;
  std::string location;
  std::string department;
  std::string doctor;
  bool cancel = false;
};

struct MedicationLine {
  std::string code;
  std::string name;
  std::string amount;
  std::string unit;
  std::string form;
  std::string usage;
  std::string days;
  std::string route;
  std::string start;
  std::string end;
  std::string total;
};

struct Medication {
  Origin origin;
  std::string date;
  std::string order_no;
  std::string department;
  std::string doctor;
  std::string setting;  // outpatient / inpatient order class
  bool administration = false;  // RAS: what was given, not prescribed
  std::vector<MedicationLine> lines;
};

struct LabReport {
  Origin origin;
  std::string date;
  std::string specimen;
  std::string group;
  std::string order_no;
  std::vector<Observation> results;
};

struct Exam {  // radiology, endoscopy, physiology, specimen and diet orders and reports
  Origin origin;
  std::string date;
  std::string order_no;
  std::string department;
  std::string status;
  std::vector<std::string> procedures;
  std::vector<Observation> findings;
};

struct DocumentFile {
  std::string name;
  std::string mime;
  std::string ref;  // the data pack token holding its bytes (empty when not embedded)
  std::uint64_t size = 0;
};

struct Document {
  Origin origin;
  std::string date;
  std::string title;
  std::string text;  // text shown inline (HL7 observations, CDA text), may be empty
  std::vector<DocumentFile> files;
};

struct UnreadItem {  // a file the viewer cannot show, and why
  std::string data_type;
  std::string date;
  std::string problem;
};

struct PatientRecord {
  std::string source;  // the volume label
  std::string id;
  std::string name;
  std::string kana;
  std::string birth;
  std::string sex;
  std::string address;
  std::string phone;
  std::vector<Observation> profile;  // height, weight, blood type (ADT-00 OBX)
  std::vector<Allergy> allergies;
  std::vector<Diagnosis> diagnoses;
  std::vector<Encounter> encounters;
  std::vector<Medication> medications;
  std::vector<LabReport> labs;
  std::vector<Exam> exams;
  std::vector<Document> documents;
  std::vector<UnreadItem> unread;
  std::uint64_t superseded = 0;
  std::uint64_t deleted = 0;
};

// The record as the viewer's JSON (UTF-8; entries sorted by date).
[[nodiscard]] std::string to_json(PatientRecord& record);

}  // namespace medgw::media
