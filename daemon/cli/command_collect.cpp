// medgw collect --once: one collection pass over every source into the spool.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/collection_run.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <ostream>

#include <unistd.h>

namespace medgw::daemon {

int command_collect(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  if (!invocation.has("once")) {
    err << "medgw collect: add --once (the daemon, `medgw run`, collects continuously)\n";
    return exit_usage;
  }
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const std::unique_ptr<Runtime> runtime = open_runtime_reporting(*loaded, "collect", err);
  if (!runtime) return exit_failure;
  const SourcePlan plan(runtime->config);
  Collector collector(*runtime, runtime->config.policy, plan.patient_lookup());
  if (const base::Status usable = collector.refresh_policy(std::chrono::system_clock::now()); !usable) {
    err << "medgw collect: " << usable.error().message << "\n";
    return exit_failure;
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last_progress = std::chrono::steady_clock::now();
  PassOptions options;
  options.accept_mass_deletion = invocation.has("accept-deletions");
  options.progress = [&](const collectors::PassSummary& s) {
    if (!tty) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress < std::chrono::milliseconds(200)) return;
    last_progress = now;
    err << "\r\033[K" << s.source << ": " << s.files_seen << " files scanned, " << s.added + s.modified << " sent, "
        << s.renamed << " renamed, " << s.objects << " objects" << std::flush;
  };

  // Newly opted-out patients are withdrawn before anything else is spooled.
  const collectors::RegisterUpdate register_update = collector.withdraw_newly_listed(plan);
  if (register_update.withdrawn > 0 || register_update.resumed > 0) {
    out << "opt-out: " << register_update.withdrawn << " newly opted-out patients withdrawn, "
        << register_update.resumed << " taken off the list (collected again)\n";
  }
  if (register_update.paused) {
    err << "medgw collect: withdrawals for newly opted-out patients could not be spooled (" << register_update.pause_reason
        << "); nothing is collected until they are\n";
    return exit_failure;
  }
  bool paused = false;
  bool failed = false;
  for (const SourcePass& pass : plan.passes()) {
    try {
      const collectors::PassSummary summary = collector.pass(pass, options);
      if (tty) err << "\r\033[K" << std::flush;
      out << pass.label << ": " << summary.to_text() << "\n";
      if (summary.paused) {
        paused = true;
        break;
      }
    } catch (const std::exception& error) {
      if (tty) err << "\r\033[K" << std::flush;
      err << "medgw collect: " << error.what() << "\n";
      failed = true;
    }
  }
  if (paused) {
    err << "medgw collect: the spool refused new objects; what is left is collected by the next pass once uploads "
           "free room (see medgw status)\n";
  }
  return (paused || failed) ? exit_failure : exit_ok;
}

}  // namespace medgw::daemon
