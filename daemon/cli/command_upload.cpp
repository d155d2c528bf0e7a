// medgw upload --once: deliver the spool to the central until it is empty.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/delivery/uploader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <cstdio>
#include <ostream>

namespace medgw::daemon {

int command_upload(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  if (!invocation.has("once")) {
    err << "medgw upload: add --once (the daemon, `medgw run`, uploads continuously)\n";
    return exit_usage;
  }
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const std::unique_ptr<Runtime> runtime = open_runtime_reporting(*loaded, "upload", err);
  if (!runtime) return exit_failure;
  const Config& config = runtime->config;
  Uploader uploader(config.central, config.facility.code, runtime->state->gateway_id(), *runtime->spool,
                    runtime->logger.named("upload"));
  const UploadReport report = uploader.drain();

  const double seconds = static_cast<double>(report.duration.count()) / 1000.0;
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f MiB/s",
                seconds > 0 ? static_cast<double>(report.bytes_sent) / (1 << 20) / seconds : 0.0);
  out << report.delivered << " objects delivered (" << report.delivered_bytes << " bytes) in " << seconds << " s, "
      << rate << "; " << report.bytes_sent << " bytes sent, " << report.retries << " retries, " << report.rejected
      << " rejected\n";
  out << "receipts: " << report.receipts_verified << " verified, " << report.receipts_unverified
      << " not checked (no central.receipt_key), " << report.receipts_missing << " not offered by the server, "
      << report.receipts_invalid << " INVALID\n";
  if (report.erasures_confirmed + report.erasures_pending + report.erasures_invalid + report.erasures_unconfirmable > 0) {
    out << "withdrawals: " << report.erasures_confirmed << " erasures confirmed by the central, "
        << report.erasures_pending << " not yet, " << report.erasures_invalid << " INVALID, "
        << report.erasures_unconfirmable << " cannot be confirmed (no central.receipt_key, or a central without "
        << "erasure receipts)\n";
  }
  if (report.outside_window) {
    out << "outside the upload window (central.window " << config.central.window.text()
        << "); the rest is sent in the next window\n";
  }
  if (report.hard_error) {
    err << "medgw upload: " << report.error << "\n";
    return exit_failure;
  }
  if (report.erasures_invalid > 0) {
    err << "medgw upload: " << report.erasures_invalid
        << " erasure receipts do not check out; those withdrawals stay unconfirmed and are asked for again (see the "
           "log: upload.erasure_receipt_invalid; tell the central's operators)\n";
    return exit_failure;
  }
  if (report.receipts_invalid > 0) {
    err << "medgw upload: " << report.receipts_invalid
        << " receipts do not check out; those objects stay in the spool as unconfirmed and their receipts are "
           "asked for again (see the log: upload.receipt_invalid; tell the central's operators; medgw spool "
           "release|resend SEQ once it is resolved)\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace medgw::daemon
