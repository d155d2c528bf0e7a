#pragma once
// How the configured sources map onto collection passes. An ssmix2 source with
// an extended_path is two passes with their own index: the standardized
// storage under the source's name and the extended storage under
// "<name>-ext" (the manifests name the pass, so the central can tell them
// apart). dpc and receipt sources are one pass each.
#include <daemon/config/config.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace medgw::daemon {

enum class CollectorKind { ssmix2_standard, ssmix2_extended, dpc, receipt };

struct CollectorSource {
  std::string label;  // the source name in the index and the manifests
  std::filesystem::path root;
  CollectorKind kind;
  const SourceConfig* config;
};

inline constexpr std::string_view extended_suffix = "-ext";

[[nodiscard]] std::vector<CollectorSource> collector_sources(const SourceConfig& source);
[[nodiscard]] std::vector<CollectorSource> collector_sources(const Config& config);

}  // namespace medgw::daemon
