#pragma once
// From one decoded, parsed SS-MIX2 message to the viewer's record: by data
// type (domain.md §1.5), the segments each family carries. extract_adt.cpp:
// patient basics, allergies, diagnoses, visits and admissions;
// extract_orders.cpp: prescriptions, injections and exam/diet orders;
// extract_results.cpp: lab results, exam reports, observations.
#include <daemon/media/patient_record.hpp>

#include <collectors/hl7.hpp>

#include <string_view>

namespace medgw::media {

// Adds what `message` says to `record`. `care_date` is the file's 診療日
// ("-" when none). False when the data type is none the viewer knows (the
// caller counts it; the message is still in the raw storage).
bool extract_message(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                     PatientRecord& record);

// The families (each file adds to `record`).
void extract_basics(const collectors::Hl7Message& message, const Origin& origin, PatientRecord& record);
void extract_allergies(const collectors::Hl7Message& message, const Origin& origin, PatientRecord& record);
void extract_diagnoses(const collectors::Hl7Message& message, const Origin& origin, PatientRecord& record);
void extract_encounter(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                       PatientRecord& record);
void extract_medication(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                        PatientRecord& record);
void extract_exam_order(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                        PatientRecord& record);
void extract_lab_results(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                         PatientRecord& record);
void extract_exam_report(const collectors::Hl7Message& message, const Origin& origin, std::string_view care_date,
                         PatientRecord& record);
// An OBX as an observation (lab value, vital sign, finding).
[[nodiscard]] Observation observation_of(const collectors::Hl7Segment& obx);
// Observations of a message as lines of text ("name value unit [flag]").
[[nodiscard]] std::string observations_text(const collectors::Hl7Message& message);

}  // namespace medgw::media
