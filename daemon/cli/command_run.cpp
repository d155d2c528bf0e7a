// medgw run: the daemon in the foreground (systemd Type=notify).
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <daemon/service/service.hpp>

#include <ostream>

namespace medgw::daemon {

int command_run(Invocation& invocation) {
  std::ostream& err = *invocation.err;
  const std::filesystem::path file = invocation.config_path();
  const LoadResult loaded = load_config(file, config_schema());
  if (!loaded.ok()) {
    for (const Diagnostic& diagnostic : loaded.diagnostics) err << diagnostic.format() << "\n";
    err << "medgw run: " << file.string() << " has errors; nothing was started (check it with medgw check-config)\n";
    return exit_usage;
  }
  for (const Diagnostic& warning : check_environment(loaded)) err << warning.format() << "\n";
  const Config& config = *loaded.config;
  std::unique_ptr<Runtime> runtime;
  try {
    RuntimeOptions options;
    options.stderr_level = log::Level::debug;  // the service's stderr (the journal) follows log.level
    runtime = open_runtime(config, options);
  } catch (const std::exception& error) {
    err << "medgw run: " << error.what() << "\n";
    return exit_failure;
  }
  Service service(file, std::move(runtime));
  return service.run();
}

}  // namespace medgw::daemon
