#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/config_table.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <ostream>

namespace medgw::daemon {

int command_check_config(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  if (invocation.has("reference")) {
    out << config_reference_markdown(config_schema());
    return exit_ok;
  }
  const std::filesystem::path file = invocation.config_path();
  const LoadResult loaded = load_config(file, config_schema());
  std::size_t errors = 0;
  for (const Diagnostic& diagnostic : loaded.diagnostics) {
    err << diagnostic.format() << "\n";
    if (diagnostic.severity == Diagnostic::Severity::error) ++errors;
  }
  if (!loaded.ok()) {
    err << "medgw: " << errors << (errors == 1 ? " error" : " errors") << " in " << file.string() << "\n";
    return exit_usage;
  }
  const std::vector<Diagnostic> warnings = check_environment(loaded);
  for (const Diagnostic& warning : warnings) err << warning.format() << "\n";
  const Config& config = *loaded.config;
  if (invocation.has("strict") && !warnings.empty()) {
    err << "medgw: " << warnings.size() << " warning(s) in " << file.string() << " (--strict)\n";
    return exit_usage;
  }
  out << file.string() << ": valid; facility " << config.facility.code << ", " << config.sources.size()
      << (config.sources.size() == 1 ? " source" : " sources") << " (";
  for (std::size_t i = 0; i < config.sources.size(); ++i) {
    out << (i ? ", " : "") << config.sources[i].name << ":" << config.sources[i].type;
  }
  out << ")";
  if (!warnings.empty()) out << "; " << warnings.size() << " warning(s) about this machine";
  out << "\n";
  return exit_ok;
}

}  // namespace medgw::daemon
