#pragma once
// The registry of source types (one line per type in source_registry.cpp),
// and what the gateway builds from it: the config schema the loader checks
// medgw.yaml against, and the plan of passes of a loaded config.
#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/source_type.hpp>

#include <collectors/optout_register.hpp>

#include <functional>
#include <span>
#include <string_view>
#include <vector>

namespace medgw::daemon {

class SourceRegistry {
 public:
  explicit SourceRegistry(std::vector<const SourceType*> types);

  [[nodiscard]] const SourceType* find(std::string_view name) const;
  [[nodiscard]] std::span<const SourceType* const> types() const noexcept { return types_; }
  // The config table and these types' keys.
  [[nodiscard]] const ConfigSchema& schema() const noexcept { return schema_; }

 private:
  std::vector<const SourceType*> types_;
  ConfigSchema schema_;
};

// The gateway's source types.
[[nodiscard]] const SourceRegistry& source_registry();
// Shorthand: the schema of medgw.yaml.
[[nodiscard]] inline const ConfigSchema& config_schema() { return source_registry().schema(); }

// The passes of every configured source, in config order.
class SourcePlan {
 public:
  SourcePlan(const Config& config, const SourceRegistry& registry = source_registry());

  [[nodiscard]] const std::vector<SourcePass>& passes() const noexcept { return passes_; }
  [[nodiscard]] const SourcePass* find(std::string_view label) const;
  // What the opt-out register looks through when a patient is newly listed.
  [[nodiscard]] std::vector<collectors::PatientSource> patient_sources() const;
  // Whether a patient ID has a folder in any pass filed by patient (the
  // notice register's check); always true when no pass is. The function
  // keeps what it needs: it may outlive the plan.
  [[nodiscard]] std::function<bool(std::string_view)> patient_lookup() const;
  // The passes of sources[index] alone (status shows them per source).
  [[nodiscard]] std::vector<const SourcePass*> of_source(std::size_t index) const;

 private:
  std::vector<SourcePass> passes_;
  std::vector<std::size_t> source_of_;  // per pass: its index in config.sources
};

}  // namespace medgw::daemon
