#include <fhir/fhir_files.hpp>

#include <fhir/resource_rules.hpp>

namespace medgw::fhir {

FileFormat format_of(std::string_view relative_path) {
  return relative_path.ends_with(".ndjson") || relative_path.ends_with(".NDJSON") ? FileFormat::ndjson
                                                                                   : FileFormat::document;
}

void LineSplitter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t end = bytes.find('\n');
    if (end == std::string_view::npos) {
      partial_.append(bytes);
      return;
    }
    if (partial_.empty()) {
      const std::string_view raw = bytes.substr(0, end + 1);
      std::string_view line = raw.substr(0, end);
      if (line.ends_with('\r')) line.remove_suffix(1);
      on_line_(line, raw);
    } else {
      partial_.append(bytes.substr(0, end + 1));
      std::string_view line(partial_.data(), partial_.size() - 1);
      if (line.ends_with('\r')) line.remove_suffix(1);
      on_line_(line, partial_);
      partial_.clear();
    }
    bytes.remove_prefix(end + 1);
  }
}

void LineSplitter::finish() {
  if (partial_.empty()) return;
  std::string_view line = partial_;
  if (line.ends_with('\r')) line.remove_suffix(1);
  on_line_(line, partial_);
  partial_.clear();
}

void ResourceCensus::add(const base::JsonValue& resource, std::string_view type) {
  ++types_[known_r4_type(type) ? std::string(type) : std::string("(unknown)")];
  epath_ = epath_ || is_epath(resource);
  if (listed_.size() >= 1000) return;
  const base::JsonValue* id = resource.find("id");
  Listed item{std::string(type), id != nullptr ? id->text() : std::string(), {}, profile_urls(resource)};
  if (const base::JsonValue* meta = resource.find("meta")) {
    if (const base::JsonValue* version = meta->find("versionId"); version != nullptr) item.version = version->text();
  }
  listed_.push_back(std::move(item));
}

std::string ResourceCensus::meta(FileFormat format, std::string_view bundle_type,
                                 const std::function<void(base::JsonWriter&)>& extra) const {
  base::JsonWriter json;
  json.begin_object().field("kind", epath_ ? "epath" : "fhir");
  json.field("format", format == FileFormat::ndjson ? "ndjson" : (bundle_type.empty() ? "resource" : "bundle"));
  if (!bundle_type.empty()) json.field("bundle_type", std::string(bundle_type));
  json.key("types").begin_object();
  std::uint64_t total = 0;
  for (const auto& [type, count] : types_) {
    json.field(type, count);
    total += count;
  }
  json.end_object().field("resource_count", total);
  if (extra) extra(json);
  json.key("resources").begin_array();
  for (const Listed& item : listed_) {
    json.begin_object().field("type", item.type).field("id", item.id);
    if (!item.version.empty()) json.field("versionId", item.version);
    if (!item.profiles.empty()) {
      json.key("profiles").begin_array();
      for (const std::string& url : item.profiles) json.value(url);
      json.end_array();
    }
    json.end_object();
  }
  json.end_array();
  if (total > listed_.size()) json.field("resources_listed", static_cast<std::uint64_t>(listed_.size()));
  json.end_object();
  return json.take();
}

void PatientResolver::index_bundle(const base::JsonValue& bundle) {
  by_full_url_.clear();
  bundle_patients_.clear();
  const base::JsonValue* entries = bundle.find("entry");
  if (entries == nullptr) return;
  for (const base::JsonValue& entry : entries->items()) {
    const base::JsonValue* resource = entry.find("resource");
    if (resource == nullptr || !resource->is_object()) continue;
    if (const base::JsonValue* url = entry.find("fullUrl"); url != nullptr && url->is_string()) {
      by_full_url_[url->text()] = resource;
    }
    const base::JsonValue* type = resource->find("resourceType");
    const base::JsonValue* id = resource->find("id");
    if (type != nullptr && type->text() == "Patient" && id != nullptr && id->is_string()) {
      bundle_patients_[id->text()] = hospital_patient_id(*resource, id_system_);
    }
  }
}

std::string PatientResolver::patient_of(std::string_view reference) {
  if (reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:")) {
    const auto found = by_full_url_.find(reference);
    if (found == by_full_url_.end()) return {};
    const base::JsonValue* type = found->second->find("resourceType");
    return type != nullptr && type->text() == "Patient" ? hospital_patient_id(*found->second, id_system_) : std::string();
  }
  const std::optional<std::string> id = patient_id_of_reference(reference);
  if (!id) return {};
  if (const auto in_bundle = bundle_patients_.find(*id); in_bundle != bundle_patients_.end()) return in_bundle->second;
  return directory_->find(*id).value_or(std::string());
}

PatientResolver::Owner PatientResolver::owner(const base::JsonValue& resource) {
  Owner owner;
  const base::JsonValue* type = resource.find("resourceType");
  if (type != nullptr && type->text() == "Patient") {
    owner.names_patient = true;
    owner.patient_id = hospital_patient_id(resource, id_system_);
    return owner;
  }
  for (const std::string& reference : patient_references(resource)) {
    if (reference.starts_with("urn:")) {
      const auto found = by_full_url_.find(reference);
      // A reference to nothing in the Bundle may be to the patient: not told.
      if (found != by_full_url_.end()) {
        const base::JsonValue* target = found->second->find("resourceType");
        if (target == nullptr || target->text() != "Patient") continue;  // a Group, a Practitioner...
      }
    } else if (!patient_id_of_reference(reference)) {
      continue;
    }
    owner.names_patient = true;
    owner.patient_id = patient_of(reference);
    if (!owner.patient_id.empty()) return owner;
  }
  return owner;
}

}  // namespace medgw::fhir
