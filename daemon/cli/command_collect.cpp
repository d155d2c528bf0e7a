// medgw collect --once: one collection pass over every source into the spool.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/policy_loader.hpp>
#include <daemon/config/sources.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_profiles.hpp>

#include <collectors/collection_pass.hpp>

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
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), err);
  if (!loaded) return exit_usage;
  const std::unique_ptr<Runtime> runtime = open_runtime_reporting(*loaded, "collect", err);
  if (!runtime) return exit_failure;
  const Config& config = runtime->config;
  PolicyLoader policy_loader(config.policy);
  if (auto problem = policy_loader.refresh(std::chrono::system_clock::now())) {
    err << "medgw collect: " << *problem << "\n";
    return exit_failure;
  }
  const std::shared_ptr<const collectors::PatientPolicy> policy = policy_loader.current();
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last_progress = std::chrono::steady_clock::now();
  auto progress = [&](const collectors::PassSummary& s) {
    if (!tty) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress < std::chrono::milliseconds(200)) return;
    last_progress = now;
    err << "\r\033[K" << s.source << ": " << s.files_seen << " files scanned, " << s.added + s.modified << " sent, "
        << s.renamed << " renamed, " << s.objects << " objects" << std::flush;
  };

  const SourceProfiles profiles(config.facility.code);
  bool paused = false;
  bool failed = false;

  // Newly opted-out patients are withdrawn before anything else is spooled.
  log::Logger policy_logger = runtime->logger.named("policy");
  const collectors::RegisterUpdate register_update = collectors::update_optout_register(
      *runtime->state, *runtime->spool, *policy, profiles.patient_sources(config), *runtime->tagger, policy_logger, spool::Clock{});
  if (register_update.withdrawn > 0 || register_update.resumed > 0) {
    out << "opt-out: " << register_update.withdrawn << " newly opted-out patients withdrawn, "
        << register_update.resumed << " taken off the list (collected again)\n";
  }
  if (register_update.paused) {
    err << "medgw collect: withdrawals for newly opted-out patients could not be spooled (" << register_update.pause_reason
        << "); nothing is collected until they are\n";
    return exit_failure;
  }
  for (const CollectorSource& source : collector_sources(config)) {
    try {
      collectors::CollectorSettings settings{source.label, source.root, source.config->settle};
      settings.accept_mass_deletion = invocation.has("accept-deletions");
      settings.policy = policy;
      collectors::CollectionPass pass(*runtime->state, *runtime->spool, profiles.of(source.kind), settings, *runtime->tagger,
                                      runtime->logger.named("collect"), spool::Clock{}, progress);
      const collectors::PassSummary summary = pass.run();
      if (tty) err << "\r\033[K" << std::flush;
      out << source.label << ": " << summary.to_text() << "\n";
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
