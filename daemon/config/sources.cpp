#include <daemon/config/sources.hpp>

namespace medgw::daemon {

std::vector<CollectorSource> collector_sources(const SourceConfig& source) {
  std::vector<CollectorSource> out;
  switch (source.type) {
    case SourceType::ssmix2:
      out.push_back({source.name, source.path, CollectorKind::ssmix2_standard, &source});
      if (!source.extended_path.empty()) {
        out.push_back({source.name + std::string(extended_suffix), source.extended_path, CollectorKind::ssmix2_extended,
                       &source});
      }
      break;
    case SourceType::dpc: out.push_back({source.name, source.path, CollectorKind::dpc, &source}); break;
    case SourceType::receipt: out.push_back({source.name, source.path, CollectorKind::receipt, &source}); break;
  }
  return out;
}

std::vector<CollectorSource> collector_sources(const Config& config) {
  std::vector<CollectorSource> out;
  for (const SourceConfig& source : config.sources) {
    for (CollectorSource& pass : collector_sources(source)) out.push_back(std::move(pass));
  }
  return out;
}

}  // namespace medgw::daemon
