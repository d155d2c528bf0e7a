// What the FHIR source reads of a resource (fhir/resource_rules.hpp) and the
// line splitting its check and filter share (fhir/fhir_files.hpp).
#include <fhir/fhir_files.hpp>
#include <fhir/resource_rules.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace medgw::fhir;
using medgw::base::JsonValue;

TEST_CASE("the hospital's patient ID: JP Core system of the facility, zero padding normalised", "[fhir]") {
  CHECK(patient_id_system("131234567") == "urn:oid:1.2.392.100495.20.3.51.11311234567");
  CHECK(normalize_patient_id(" 12345 ") == "0000012345");
  CHECK(normalize_patient_id("0000012345") == "0000012345");
  CHECK(normalize_patient_id("000000000012345") == "0000012345");
  CHECK(normalize_patient_id("A-12") == "A-12");
  const JsonValue patient = JsonValue::parse(
      R"({"resourceType":"Patient","id":"x","identifier":[{"system":"urn:other","value":"9"},)"
      R"({"system":"urn:oid:1.2.392.100495.20.3.51.11311234567","value":"42"}]})");
  CHECK(hospital_patient_id(patient, patient_id_system("131234567")) == "0000000042");
  CHECK(hospital_patient_id(patient, patient_id_system("139999999")).empty());
}

TEST_CASE("patient references: relative, absolute, versioned, and other types that are not the patient", "[fhir]") {
  CHECK(patient_id_of_reference("Patient/abc") == "abc");
  CHECK(patient_id_of_reference("https://ehr.example.jp/fhir/Patient/abc/_history/3") == "abc");
  CHECK_FALSE(patient_id_of_reference("Group/abc"));
  CHECK_FALSE(patient_id_of_reference("urn:uuid:1234"));
  CHECK_FALSE(patient_id_of_reference("Patient/"));
  const JsonValue observation = JsonValue::parse(
      R"({"resourceType":"Observation","subject":{"reference":"Patient/p1"},"performer":[{"reference":"Practitioner/d"}],)"
      R"("effectiveDateTime":"2026-03-05T10:00:00+09:00"})");
  CHECK(patient_references(observation) == std::vector<std::string>{"Patient/p1"});
  CHECK(resource_date(observation) == "20260305");
}

TEST_CASE("R4 resource types are known, others not", "[fhir]") {
  CHECK(known_r4_type("Observation"));
  CHECK(known_r4_type("VisionPrescription"));
  CHECK(known_r4_type("Account"));
  CHECK_FALSE(known_r4_type("Observatio"));
  CHECK_FALSE(known_r4_type("observation"));
}

TEST_CASE("lines split across pieces come whole, with and without their end", "[fhir]") {
  std::vector<std::string> lines, raws;
  LineSplitter splitter([&](std::string_view line, std::string_view raw) {
    lines.emplace_back(line);
    raws.emplace_back(raw);
  });
  splitter.feed("{\"a\":1}\r\n{\"b\"");
  splitter.feed(":2}\n");
  splitter.feed("{\"c\":3}");
  splitter.finish();
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"});
  CHECK(raws == std::vector<std::string>{"{\"a\":1}\r\n", "{\"b\":2}\n", "{\"c\":3}"});
}

TEST_CASE("to_json writes back what was read", "[fhir]") {
  const std::string text = R"({"resourceType":"Bundle","n":1.50,"t":true,"x":null,"e":[{"s":"日本\"語"}]})";
  CHECK(to_json(JsonValue::parse(text)) == text);
}
