#include <fhir/fhir_profile.hpp>

#include <fhir/fhir_files.hpp>
#include <fhir/resource_rules.hpp>

#include <base/json.hpp>

#include <map>
#include <set>

namespace medgw::fhir {
namespace {

using collectors::Anomaly;
using collectors::bit;

// ---- the check: structure, counts, the manifest meta, Patients learnt ----

class FhirCheck final : public collectors::ContentCheck {
 public:
  FhirCheck(FileFormat format, std::string id_system, std::shared_ptr<PatientDirectory> directory)
      : format_(format),
        id_system_(std::move(id_system)),
        directory_(std::move(directory)),
        lines_([this](std::string_view line, std::string_view) { on_text(line); }) {}

  void update(std::string_view bytes) override {
    if (format_ == FileFormat::ndjson) {
      lines_.feed(bytes);
    } else if (!too_large_) {
      if (document_.size() + bytes.size() > document_limit) {
        too_large_ = true;
        document_.clear();
        document_.shrink_to_fit();
      } else {
        document_.append(bytes);
      }
    }
  }

  collectors::Analysis finish() override {
    if (format_ == FileFormat::ndjson) {
      lines_.finish();
    } else if (!too_large_) {
      on_text(document_);
    }
    directory_->flush();
    collectors::Analysis analysis;
    analysis.anomalies = anomalies_;
    analysis.meta_json = meta();
    return analysis;
  }

 private:
  void on_text(std::string_view text) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
    base::JsonValue value;
    try {
      value = base::JsonValue::parse(text);
    } catch (const base::JsonError&) {
      ++invalid_;
      anomalies_ |= bit(Anomaly::fhir_invalid_json);
      return;
    }
    const base::JsonValue* type = value.find("resourceType");
    if (type == nullptr || !type->is_string()) {
      ++invalid_;
      anomalies_ |= bit(Anomaly::fhir_invalid_json);
      return;
    }
    if (type->text() == "Bundle") {
      bundle_type_ = value.find("type") != nullptr ? value.find("type")->text() : std::string();
      check_bundle(value);
    }
    resource(value, true);
  }

  void check_bundle(const base::JsonValue& bundle) {
    std::set<std::string, std::less<>> full_urls;
    const base::JsonValue* entries = bundle.find("entry");
    if (entries == nullptr) return;
    for (const base::JsonValue& entry : entries->items()) {
      if (const base::JsonValue* url = entry.find("fullUrl"); url != nullptr && url->is_string()) full_urls.insert(url->text());
    }
    for (const base::JsonValue& entry : entries->items()) {
      const base::JsonValue* item = entry.find("resource");
      if (item == nullptr || !item->is_object()) {
        ++invalid_;
        anomalies_ |= bit(Anomaly::fhir_invalid_json);
        continue;
      }
      for (const std::string& reference : patient_references(*item)) {
        if (reference.starts_with("urn:uuid:") && !full_urls.contains(reference)) {
          ++dangling_;
          anomalies_ |= bit(Anomaly::fhir_dangling_reference);
        }
      }
      resource(*item, false);
    }
  }

  void resource(const base::JsonValue& value, bool top) {
    const base::JsonValue* type = value.find("resourceType");
    const std::string type_name = type != nullptr && type->is_string() ? type->text() : std::string();
    if (type_name.empty()) {
      ++invalid_;
      anomalies_ |= bit(Anomaly::fhir_invalid_json);
      return;
    }
    census_.add(value, type_name);
    if (!known_r4_type(type_name)) {
      ++unknown_;
      anomalies_ |= bit(Anomaly::fhir_unknown_type);
    }
    const base::JsonValue* id = value.find("id");
    if ((id == nullptr || !id->is_string() || id->text().empty()) && top) {
      ++missing_id_;
      anomalies_ |= bit(Anomaly::fhir_missing_id);
    }
    if (type_name == "Patient" && id != nullptr && id->is_string()) {
      const std::string patient = hospital_patient_id(value, id_system_);
      if (!patient.empty()) directory_->learn(id->text(), patient);
    }
  }

  std::string meta() const {
    return census_.meta(format_, bundle_type_, [this](base::JsonWriter& json) {
      if (too_large_) json.field("unchecked", "larger than 64 MiB: not read as one document");
      if (invalid_ > 0) json.field("invalid", invalid_);
      if (unknown_ > 0) json.field("unknown_types", unknown_);
      if (missing_id_ > 0) json.field("missing_ids", missing_id_);
      if (dangling_ > 0) json.field("dangling_references", dangling_);
    });
  }

  FileFormat format_;
  std::string id_system_;
  std::shared_ptr<PatientDirectory> directory_;
  LineSplitter lines_;
  std::string document_;
  bool too_large_ = false;
  collectors::AnomalySet anomalies_ = 0;
  ResourceCensus census_;
  std::string bundle_type_;
  std::uint64_t invalid_ = 0, unknown_ = 0, missing_id_ = 0, dangling_ = 0;
};

}  // namespace

FhirProfile::FhirProfile(std::string id_system, std::shared_ptr<PatientDirectory> directory)
    : id_system_(std::move(id_system)), directory_(std::move(directory)) {}

std::unique_ptr<collectors::ContentCheck> FhirProfile::stream_check(std::string_view relative_path) const {
  return std::make_unique<FhirCheck>(format_of(relative_path), id_system_, directory_);
}

std::unique_ptr<collectors::OptOutFilter> FhirProfile::optout_filter(
    std::string_view relative_path, std::shared_ptr<const collectors::PatientPolicy> policy) const {
  if (!policy || !policy->filters_rows()) return nullptr;
  return make_fhir_filter(format_of(relative_path), id_system_, directory_, std::move(policy), nullptr);
}

std::unique_ptr<collectors::OptOutFilter> FhirProfile::late_rows_filter(
    std::string_view relative_path, std::shared_ptr<const collectors::PatientPolicy> policy,
    collectors::OnlyPatients only) const {
  return make_fhir_filter(format_of(relative_path), id_system_, directory_, std::move(policy), std::move(only));
}

collectors::Analysis FhirProfile::analyze_path(std::string_view relative_path) const {
  collectors::Analysis analysis;
  analysis.meta_json = format_of(relative_path) == FileFormat::ndjson ? R"({"kind":"fhir","format":"ndjson"})"
                                                                      : R"({"kind":"fhir","format":"document"})";
  return analysis;
}

}  // namespace medgw::fhir
