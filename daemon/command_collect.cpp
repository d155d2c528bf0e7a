// medgw collect --once: one collection pass over every source into the spool.
#include <daemon/commands.hpp>
#include <daemon/config_loader.hpp>
#include <daemon/runtime.hpp>
#include <daemon/sources.hpp>

#include <collectors/claims_profiles.hpp>
#include <collectors/collection_pass.hpp>
#include <collectors/ssmix2_profile.hpp>

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
  const LoadResult loaded = load_config(invocation.config_path());
  if (!loaded.ok()) {
    for (const Diagnostic& diagnostic : loaded.diagnostics) err << diagnostic.format() << "\n";
    return exit_usage;
  }
  std::unique_ptr<Runtime> runtime;
  try {
    runtime = open_runtime(*loaded.config);
  } catch (const std::exception& error) {
    err << "medgw collect: " << error.what() << "\n";
    return exit_failure;
  }
  const Config& config = runtime->config;
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

  const collectors::Ssmix2StandardProfile standard;
  const collectors::Ssmix2ExtendedProfile extended;
  const collectors::DpcProfile dpc(config.facility.code);
  const collectors::ReceiptProfile receipt(config.facility.code);
  bool paused = false;
  bool failed = false;
  for (const CollectorSource& source : collector_sources(config)) {
    const collectors::SourceProfile* profile = nullptr;
    switch (source.kind) {
      case CollectorKind::ssmix2_standard: profile = &standard; break;
      case CollectorKind::ssmix2_extended: profile = &extended; break;
      case CollectorKind::dpc: profile = &dpc; break;
      case CollectorKind::receipt: profile = &receipt; break;
    }
    try {
      collectors::CollectorSettings settings{source.label, source.root, source.config->settle};
      settings.accept_mass_deletion = invocation.has("accept-deletions");
      collectors::CollectionPass pass(*runtime->state, *runtime->spool, *profile, settings, *runtime->tagger,
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
