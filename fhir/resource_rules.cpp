#include <fhir/resource_rules.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <array>

namespace medgw::fhir {
namespace {

// FHIR R4 (4.0.1) resource types, sorted.
constexpr std::string_view r4_types[] = {
    "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment", "AppointmentResponse",
    "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct", "BodyStructure", "Bundle", "CapabilityStatement",
    "CarePlan", "CareTeam", "CatalogEntry", "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse",
    "ClinicalImpression", "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition",
    "Composition", "ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric", "DeviceRequest",
    "DeviceUseStatement", "DiagnosticReport", "DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis",
    "Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse", "EpisodeOfCare", "EventDefinition",
    "Evidence", "EvidenceVariable", "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
    "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy", "Immunization",
    "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide", "InsurancePlan", "Invoice",
    "Library", "Linkage", "List", "Location", "Measure", "MeasureReport", "Media", "Medication",
    "MedicationAdministration", "MedicationDispense", "MedicationKnowledge", "MedicationRequest",
    "MedicationStatement", "MedicinalProduct", "MedicinalProductAuthorization", "MedicinalProductContraindication",
    "MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
    "MedicinalProductManufactured", "MedicinalProductPackaged", "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect", "MessageDefinition", "MessageHeader", "MolecularSequence", "NamingSystem",
    "NutritionOrder", "Observation", "ObservationDefinition", "OperationDefinition", "OperationOutcome",
    "Organization", "OrganizationAffiliation", "Parameters", "Patient", "PaymentNotice", "PaymentReconciliation",
    "Person", "PlanDefinition", "Practitioner", "PractitionerRole", "Procedure", "Provenance", "Questionnaire",
    "QuestionnaireResponse", "RelatedPerson", "RequestGroup", "ResearchDefinition", "ResearchElementDefinition",
    "ResearchStudy", "ResearchSubject", "RiskAssessment", "RiskEvidenceSynthesis", "Schedule", "SearchParameter",
    "ServiceRequest", "Slot", "Specimen", "SpecimenDefinition", "StructureDefinition", "StructureMap",
    "Subscription", "Substance", "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
    "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification", "SupplyDelivery",
    "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport", "TestScript", "ValueSet",
    "VerificationResult", "VisionPrescription"};
static_assert(std::size(r4_types) == 146);

constexpr std::array<std::string_view, 7> patient_fields{"subject",      "patient",    "beneficiary", "subscriber",
                                                         "policyHolder", "individual", "for"};

constexpr std::string_view jp_patient_id_oid = "urn:oid:1.2.392.100495.20.3.51.1";

void add_reference(const base::JsonValue& value, std::vector<std::string>& out) {
  if (value.is_object()) {
    if (const base::JsonValue* reference = value.find("reference"); reference != nullptr && reference->is_string()) {
      out.push_back(reference->text());
    }
  } else if (value.kind() == base::JsonValue::Kind::array) {
    for (const base::JsonValue& item : value.items()) add_reference(item, out);
  }
}

// "2026-03-05T10:00:00+09:00" -> "20260305"; "2026-03" -> "202603".
std::string compact_date(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 10)) {
    if (c >= '0' && c <= '9') out.push_back(c);
  }
  return out.size() >= 6 ? out : std::string();
}

void write(base::JsonWriter& out, const base::JsonValue& value) {
  switch (value.kind()) {
    case base::JsonValue::Kind::null: out.null(); break;
    case base::JsonValue::Kind::boolean: out.value(value.boolean()); break;
    case base::JsonValue::Kind::number: out.raw(value.text()); break;
    case base::JsonValue::Kind::string: out.value(value.text()); break;
    case base::JsonValue::Kind::array:
      out.begin_array();
      for (const base::JsonValue& item : value.items()) write(out, item);
      out.end_array();
      break;
    case base::JsonValue::Kind::object:
      out.begin_object();
      for (const auto& [key, member] : value.members()) {
        out.key(key);
        write(out, member);
      }
      out.end_object();
      break;
  }
}

}  // namespace

bool known_r4_type(std::string_view type) { return std::binary_search(std::begin(r4_types), std::end(r4_types), type); }

std::string patient_id_system(std::string_view facility_code) {
  if (facility_code.size() != 9) return std::string(jp_patient_id_oid);
  return std::string(jp_patient_id_oid) + std::string(facility_code.substr(0, 2)) + "1" +
         std::string(facility_code.substr(2));
}

std::string normalize_patient_id(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::string(value);
  }
  while (value.size() > 1 && value.front() == '0') value.remove_prefix(1);
  std::string out(value);
  if (out.size() < 10) out.insert(0, 10 - out.size(), '0');
  return out;
}

std::string hospital_patient_id(const base::JsonValue& patient, std::string_view system) {
  const base::JsonValue* identifiers = patient.find("identifier");
  if (identifiers == nullptr) return {};
  for (const base::JsonValue& identifier : identifiers->items()) {
    const base::JsonValue* id_system = identifier.find("system");
    const base::JsonValue* value = identifier.find("value");
    if (id_system != nullptr && value != nullptr && id_system->is_string() && value->is_string() &&
        id_system->text() == system) {
      return normalize_patient_id(value->text());
    }
  }
  return {};
}

std::vector<std::string> patient_references(const base::JsonValue& resource) {
  std::vector<std::string> out;
  for (std::string_view field : patient_fields) {
    if (const base::JsonValue* value = resource.find(field)) add_reference(*value, out);
  }
  return out;
}

std::optional<std::string> patient_id_of_reference(std::string_view reference) {
  if (const std::size_t history = reference.find("/_history/"); history != std::string_view::npos) {
    reference = reference.substr(0, history);
  }
  const std::size_t slash = reference.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == reference.size()) return std::nullopt;
  const std::string_view before = reference.substr(0, slash);
  const std::size_t type_start = before.rfind('/') == std::string_view::npos ? 0 : before.rfind('/') + 1;
  if (before.substr(type_start) != "Patient") return std::nullopt;
  return std::string(reference.substr(slash + 1));
}

std::string resource_date(const base::JsonValue& resource) {
  for (std::string_view field : {"effectiveDateTime", "issued", "authoredOn", "recordedDate", "onsetDateTime",
                                 "occurrenceDateTime", "performedDateTime", "date"}) {
    if (const base::JsonValue* value = resource.find(field); value != nullptr && value->is_string()) {
      return compact_date(value->text());
    }
  }
  for (std::string_view field : {"period", "effectivePeriod", "performedPeriod"}) {
    if (const base::JsonValue* period = resource.find(field)) {
      if (const base::JsonValue* start = period->find("start"); start != nullptr && start->is_string()) {
        return compact_date(start->text());
      }
    }
  }
  return {};
}

std::vector<std::string> profile_urls(const base::JsonValue& resource) {
  std::vector<std::string> out;
  const base::JsonValue* meta = resource.find("meta");
  const base::JsonValue* profiles = meta != nullptr ? meta->find("profile") : nullptr;
  if (profiles == nullptr) return out;
  for (const base::JsonValue& url : profiles->items()) {
    if (url.is_string()) out.push_back(url.text());
  }
  return out;
}

bool is_epath(const base::JsonValue& resource) {
  for (const std::string& url : profile_urls(resource)) {
    if (url.find("epath") != std::string::npos || url.find("ePath") != std::string::npos) return true;
  }
  return false;
}

std::string to_json(const base::JsonValue& value) {
  base::JsonWriter out;
  write(out, value);
  return out.take();
}

}  // namespace medgw::fhir
