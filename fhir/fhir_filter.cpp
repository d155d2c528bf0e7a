// The copy of a FHIR file that is sent (fhir_profile.hpp): without the
// resources of patients who may not go.
#include <fhir/fhir_files.hpp>
#include <fhir/resource_rules.hpp>

#include <collectors/optout_filter.hpp>

#include <base/json.hpp>

namespace medgw::fhir {
namespace {

enum class Verdict { keep, drop };

class FhirFilter final : public collectors::OptOutFilter {
 public:
  FhirFilter(FileFormat format, std::string id_system, std::shared_ptr<PatientDirectory> directory,
             std::shared_ptr<const collectors::PatientPolicy> policy, collectors::OnlyPatients only)
      : format_(format),
        resolver_(std::move(id_system), directory),
        policy_(std::move(policy)),
        only_(std::move(only)),
        lines_([this](std::string_view line, std::string_view raw) { on_line(line, raw); }) {
    directory->refresh();  // Patients of files not read yet are known before any resource is judged
  }

  [[nodiscard]] const collectors::FilterResult& result() const noexcept override { return result_; }

  void feed(std::string_view bytes, std::string& out) override {
    out_ = &out;
    if (format_ == FileFormat::ndjson) {
      lines_.feed(bytes);
    } else if (!too_large_) {
      if (document_.size() + bytes.size() > document_limit) {
        // Too large to rewrite in memory: passed on as it is, unless a
        // patient in it may not go (then the file is held, below).
        too_large_ = true;
        out.append(document_);
        document_.clear();
        document_.shrink_to_fit();
        out.append(bytes);
      } else {
        document_.append(bytes);
      }
    } else {
      out.append(bytes);
    }
  }

  void finish(std::string& out) override {
    out_ = &out;
    if (format_ == FileFormat::ndjson) {
      lines_.finish();
    } else if (too_large_) {
      if (policy_ && (!policy_->optout->empty() || policy_->notice)) {
        hold("a FHIR document larger than 64 MiB cannot be checked for opted-out patients; split it into NDJSON");
      }
    } else {
      rewrite_document();
    }
    // The manifest names what the copy holds, not what the file held.
    result_.meta_json = census_.meta(format_, bundle_type_);
  }

 private:
  // Whether a resource goes, by its patient.
  Verdict judge(const base::JsonValue& resource) {
    if (const base::JsonValue* type = resource.find("resourceType"); type != nullptr && type->text() == "Bundle") {
      // A Bundle inside a Bundle: its patients are not judged one by one.
      if (only_) return Verdict::drop;
      if (policy_ && (!policy_->optout->empty() || policy_->notice)) {
        hold("it has a Bundle inside a Bundle, whose patients medgw does not check one by one; send such "
             "Bundles unnested");
      }
      return Verdict::keep;
    }
    const PatientResolver::Owner owner = resolver_.owner(resource);
    if (!owner.names_patient) return only_ ? Verdict::drop : Verdict::keep;
    if (owner.patient_id.empty()) {
      ++result_.unidentified;
      if (only_) return Verdict::drop;
      if (policy_->hold_unidentified) {
        hold("it has resources whose patient medgw cannot identify yet (no JP Core patient ID, or a Patient it has "
             "not read); it is sent once they are known, or set policy.unidentified: send");
      }
      return Verdict::keep;
    }
    const std::string date = resource_date(resource);
    if (only_) {
      const bool wanted = only_->contains(owner.patient_id) && !policy_->opted_out(owner.patient_id) &&
                          !policy_->notice_pending(owner.patient_id, date);
      return wanted ? Verdict::keep : Verdict::drop;
    }
    if (policy_->opted_out(owner.patient_id)) {
      ++result_.rows_removed;
      return Verdict::drop;
    }
    if (policy_->notice) {
      policy_->notice->record(collectors::Encounter{owner.patient_id, date, "fhir"});
      if (policy_->notice_pending(owner.patient_id, date)) {
        ++result_.notice_held;
        result_.notice_held_ids.insert(owner.patient_id);
        return Verdict::drop;
      }
    }
    return Verdict::keep;
  }

  void hold(std::string why) {
    result_.hold = true;
    if (result_.hold_reason.empty()) result_.hold_reason = std::move(why);
  }

  void on_line(std::string_view line, std::string_view raw) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      if (!only_) out_->append(raw);
      return;
    }
    base::JsonValue resource;
    try {
      resource = base::JsonValue::parse(line);
    } catch (const base::JsonError&) {
      // Not JSON: whose it is cannot be told.
      ++result_.unidentified;
      if (!only_ && policy_->hold_unidentified) hold("a line is not JSON, so its patient cannot be told");
      if (!only_) out_->append(raw);
      return;
    }
    const base::JsonValue* type = resource.find("resourceType");
    if (type != nullptr && type->text() == "Bundle") {
      // A Bundle on a line (a stored document in a Bulk export): its entries are judged as a file's.
      rewrite_bundle(resource, raw);
      resolver_.index_bundle(base::JsonValue());  // its entries die with `resource`
      return;
    }
    if (judge(resource) == Verdict::keep) {
      out_->append(raw);
      count(resource);
    }
  }

  void count(const base::JsonValue& resource) {
    const base::JsonValue* type = resource.find("resourceType");
    if (type != nullptr && type->is_string()) census_.add(resource, type->text());
  }

  // A Bundle without the entries that may not go; the document unchanged
  // when all stay. A document Bundle whose Composition goes loses them all.
  void rewrite_document() {
    base::JsonValue document;
    try {
      document = base::JsonValue::parse(document_);
    } catch (const base::JsonError&) {
      ++result_.unidentified;
      if (!only_ && policy_->hold_unidentified) hold("the file is not JSON, so its patients cannot be told");
      if (!only_) out_->append(document_);
      return;
    }
    const base::JsonValue* type = document.find("resourceType");
    if (type == nullptr || type->text() != "Bundle") {
      if (judge(document) == Verdict::keep) {
        out_->append(document_);
        count(document);
      }
      return;
    }
    if (const base::JsonValue* kind = document.find("type"); kind != nullptr) bundle_type_ = kind->text();
    rewrite_bundle(document, document_);
  }

  // `document` (whose text is `original`) without the entries that may not
  // go, or `original` when all stay; rewritten ones end with a newline.
  void rewrite_bundle(const base::JsonValue& document, std::string_view original) {
    resolver_.index_bundle(document);
    const base::JsonValue* entries = document.find("entry");
    std::vector<const base::JsonValue*> kept;
    bool composition_dropped = false;
    const std::size_t total = entries != nullptr ? entries->items().size() : 0;
    if (entries != nullptr) {
      for (const base::JsonValue& entry : entries->items()) {
        const base::JsonValue* resource = entry.find("resource");
        if (resource == nullptr || judge(*resource) == Verdict::keep) {
          kept.push_back(&entry);
          continue;
        }
        const base::JsonValue* entry_type = resource->find("resourceType");
        composition_dropped = composition_dropped || (entry_type != nullptr && entry_type->text() == "Composition");
      }
    }
    const base::JsonValue* bundle_type = document.find("type");
    if (composition_dropped && bundle_type != nullptr && bundle_type->text() == "document") {
      result_.rows_removed += kept.size();
      kept.clear();
    }
    for (const base::JsonValue* entry : kept) {
      if (const base::JsonValue* resource = entry->find("resource")) count(*resource);
    }
    count(document);
    if (kept.size() == total && !only_) {
      out_->append(original);
      return;
    }
    base::JsonWriter json;
    json.begin_object();
    for (const auto& [key, member] : document.members()) {
      json.key(key);
      if (key != "entry") {
        json.raw(to_json(member));
        continue;
      }
      json.begin_array();
      for (const base::JsonValue* entry : kept) json.raw(to_json(*entry));
      json.end_array();
    }
    json.end_object();
    out_->append(json.text());
    out_->push_back('\n');
  }

  FileFormat format_;
  PatientResolver resolver_;
  std::shared_ptr<const collectors::PatientPolicy> policy_;
  collectors::OnlyPatients only_;
  LineSplitter lines_;
  std::string document_;
  bool too_large_ = false;
  std::string* out_ = nullptr;
  collectors::FilterResult result_;
  ResourceCensus census_;
  std::string bundle_type_;
};

}  // namespace

std::unique_ptr<collectors::OptOutFilter> make_fhir_filter(FileFormat format, std::string id_system,
                                                           std::shared_ptr<PatientDirectory> directory,
                                                           std::shared_ptr<const collectors::PatientPolicy> policy,
                                                           collectors::OnlyPatients only) {
  return std::make_unique<FhirFilter>(format, std::move(id_system), std::move(directory), std::move(policy),
                                      std::move(only));
}

}  // namespace medgw::fhir
