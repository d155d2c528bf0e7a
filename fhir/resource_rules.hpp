#pragma once
// What medgw reads of a FHIR R4 resource: whether its type is R4's, whose
// patient it is (the Patient compartment, as far as a resource names its
// patient in a top-level reference), the hospital's patient ID of a
// Patient (JP Core: the identifier whose system is
// urn:oid:1.2.392.100495.20.3.51.1 + the 10-digit 医療機関コード), its date
// (for the notice period), and its profile URLs.
#include <base/json_reader.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::fhir {

[[nodiscard]] bool known_r4_type(std::string_view type);

// "urn:oid:1.2.392.100495.20.3.51.1" + prefecture (2) + "1" (医科) + code (7)
// for the 9-digit facility.code.
[[nodiscard]] std::string patient_id_system(std::string_view facility_code);

// The hospital's patient ID: blanks trimmed; digits only are left-padded
// with zeros to 10 (as SS-MIX2 and the opt-out list write them) after their
// own leading zeros are dropped, so "12345" and "0000012345" are one patient.
[[nodiscard]] std::string normalize_patient_id(std::string_view value);

// A Patient's hospital ID (identifier with `system`), or empty.
[[nodiscard]] std::string hospital_patient_id(const base::JsonValue& patient, std::string_view system);

// The references by which a resource names its patient: the top-level
// subject, patient, beneficiary, subscriber, policyHolder, individual and
// for elements (one reference or a list), as written ("Patient/1",
// "https://.../Patient/1/_history/2", "urn:uuid:...").
[[nodiscard]] std::vector<std::string> patient_references(const base::JsonValue& resource);

// "Patient/<id>" of a relative or absolute reference: the id; nullopt for
// anything else (another resource type, urn:uuid, a contained "#ref").
[[nodiscard]] std::optional<std::string> patient_id_of_reference(std::string_view reference);

// The resource's clinical date as YYYYMMDD (effective, issued, authoredOn,
// recordedDate, onset, occurrence, performed, period.start, date), or empty.
[[nodiscard]] std::string resource_date(const base::JsonValue& resource);

// meta.profile URLs.
[[nodiscard]] std::vector<std::string> profile_urls(const base::JsonValue& resource);

// Whether a resource or Bundle is of the ePath (標準クリニカルパス) IG: a
// profile URL of it.
[[nodiscard]] bool is_epath(const base::JsonValue& resource);

// Compact JSON text of a value (numbers as written).
[[nodiscard]] std::string to_json(const base::JsonValue& value);

}  // namespace medgw::fhir
