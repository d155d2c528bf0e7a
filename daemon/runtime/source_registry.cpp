#include <daemon/runtime/source_registry.hpp>

#include <daemon/runtime/builtin_sources.hpp>
#include <daemon/runtime/runtime.hpp>

#include <stdexcept>

namespace medgw::daemon {

const SourceRegistry& source_registry() {
  static const SourceRegistry registry({
      &ssmix2_source_type(),
      &dpc_source_type(),
      &receipt_source_type(),
      &dicom_source_type(),
      &fhir_source_type(),
  });
  return registry;
}

SourceRegistry::SourceRegistry(std::vector<const SourceType*> types) : types_(std::move(types)) {
  schema_.keys = config_table();
  for (const SourceType* type : types_) {
    if (schema_.find_type(type->spec.name) != nullptr) {
      throw std::logic_error("source type '" + std::string(type->spec.name) + "' is registered twice");
    }
    schema_.source_types.push_back(&type->spec);
  }
}

const SourceType* SourceRegistry::find(std::string_view name) const {
  for (const SourceType* type : types_) {
    if (type->spec.name == name) return type;
  }
  return nullptr;
}

SourcePlan::SourcePlan(const Config& config, const SourceRegistry& registry) {
  const SourceContext context{config.facility.code, config.state_dir, spool_limits(config)};
  for (std::size_t i = 0; i < config.sources.size(); ++i) {
    const SourceConfig& source = config.sources[i];
    const SourceType* type = registry.find(source.type);
    if (type == nullptr) {
      throw std::logic_error("sources[" + std::to_string(i) + "]: unknown type '" + source.type +
                             "' in a validated config");
    }
    for (SourcePass& pass : type->passes(source, context)) {
      passes_.push_back(std::move(pass));
      source_of_.push_back(i);
    }
  }
}

const SourcePass* SourcePlan::find(std::string_view label) const {
  for (const SourcePass& pass : passes_) {
    if (pass.label == label) return &pass;
  }
  return nullptr;
}

std::vector<collectors::PatientSource> SourcePlan::patient_sources() const {
  std::vector<collectors::PatientSource> out;
  for (const SourcePass& pass : passes_) {
    if (pass.profile) out.push_back({pass.label, pass.profile.get()});
  }
  return out;
}

std::function<bool(std::string_view)> SourcePlan::patient_lookup() const {
  std::vector<std::pair<std::filesystem::path, std::shared_ptr<const collectors::SourceProfile>>> folders;
  for (const SourcePass& pass : passes_) {
    if (pass.profile && !pass.root.empty()) folders.emplace_back(pass.root, pass.profile);
  }
  return [folders = std::move(folders)](std::string_view patient_id) {
    if (folders.empty()) return true;
    for (const auto& [root, profile] : folders) {
      const std::string folder = profile->patient_folder(patient_id);
      std::error_code error;
      if (!folder.empty() && std::filesystem::is_directory(root / folder, error)) return true;
    }
    return false;
  };
}

std::vector<const SourcePass*> SourcePlan::of_source(std::size_t index) const {
  std::vector<const SourcePass*> out;
  for (std::size_t i = 0; i < passes_.size(); ++i) {
    if (source_of_[i] == index) out.push_back(&passes_[i]);
  }
  return out;
}

}  // namespace medgw::daemon
