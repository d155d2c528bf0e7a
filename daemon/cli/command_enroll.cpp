// medgw enroll --ticket-file FILE [--force]: the gateway's first certificate
// from the central's EST service with a one-time ticket
// (docs/certificates.md "The gateway").
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/delivery/credential_files.hpp>
#include <daemon/delivery/est_client.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <base/time_format.hpp>

#include <exception>
#include <ostream>

#include <curl/curl.h>

#include <unistd.h>

namespace medgw::daemon {
namespace {

// The ticket of `file`, checked against facility.code; nullopt after
// printing why not.
std::optional<EnrollmentTicket> read_ticket(const std::string& file, const Config& config, std::ostream& err) {
  std::string text;
  if (!read_text_file(file, text)) {
    err << "medgw enroll: cannot read the ticket file " << file << "\n";
    return std::nullopt;
  }
  auto ticket = parse_ticket(text, file);
  if (!ticket) {
    err << "medgw enroll: " << ticket.error().message << "\n";
    return std::nullopt;
  }
  if (ticket->facility != config.facility.code) {
    err << "medgw enroll: the ticket file " << file << " is for facility " << ticket->facility
        << ", but facility.code in " << config.origin.string() << " is " << config.facility.code
        << "; ask the central for a ticket of this facility\n";
    return std::nullopt;
  }
  return std::move(*ticket);
}

// The current certificate's end while it is still valid.
std::optional<std::chrono::system_clock::time_point> valid_until(const CentralConfig& central) {
  std::string text;
  if (!read_text_file(central.cert.string(), text)) return std::nullopt;
  const Certificates chain = read_certificates(text);
  if (chain.empty()) return std::nullopt;
  const Validity validity = certificate_validity(chain.front().get());
  if (validity.not_after <= std::chrono::system_clock::now()) return std::nullopt;
  return validity.not_after;
}

void finish_interrupted_swap(const CentralConfig& central, const std::string& key_password, const log::Logger& logger,
                             std::ostream& err) {
  const SwapRecovery recovery = recover_credentials_swap(central.cert, central.key, key_password);
  if (recovery == SwapRecovery::nothing) return;
  const bool completed = recovery == SwapRecovery::completed;
  logger.warn("cert.swap_recovered", completed ? "an interrupted certificate swap was completed"
                                               : "leftovers of an interrupted certificate swap were removed",
              {{"cert", central.cert}, {"outcome", completed ? "completed" : "removed"}});
  err << "medgw enroll: " << (completed ? "completed" : "undid") << " an interrupted replacement of "
      << central.cert.string() << "\n";
}

}  // namespace

int command_enroll(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::string ticket_file = invocation.value("ticket-file");
  if (ticket_file.empty()) {
    err << "medgw enroll: give the ticket file from the central: --ticket-file FILE\n";
    return exit_usage;
  }
  const std::optional<Config> config = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!config) return exit_usage;
  const CentralConfig& central = config->central;
  const log::Logger logger = command_logger(*config, "cert");
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any transfer

  const std::optional<EnrollmentTicket> ticket = read_ticket(ticket_file, *config, err);
  if (!ticket) return exit_failure;
  auto profile = make_http_profile(central, ClientIdentity::none, logger);
  if (!profile) {
    err << "medgw enroll: " << profile.error().message << "\n";
    return exit_failure;
  }
  try {
    finish_interrupted_swap(central, profile->key_password, logger, err);
  } catch (const std::exception& error) {
    err << "medgw enroll: " << error.what() << "\n";
    return exit_failure;
  }
  if (const auto until = valid_until(central); until && !invocation.has("force")) {
    err << "medgw enroll: " << central.cert.string() << " is valid until " << base::rfc3339_utc(*until)
        << "; it is kept (the ticket is not used). Add --force to replace it.\n";
    return exit_ok;
  }
  const auto url = est_url(central.url, "simpleenroll");
  if (!url) {
    err << "medgw enroll: " << url.error().message << "\n";
    return exit_usage;
  }
  const auto issued = request_certificate(*profile, *url, config->facility.code, &*ticket);
  if (!issued) {
    err << "medgw enroll: " << issued.error().message << "\n";
    if (issued.error().status == 401) err << "  (a ticket is single use and expires: ask the central for a new one)\n";
    return exit_failure;
  }
  try {
    store_credentials(central.cert, central.key, private_key_pem(issued->key.get()), certificates_pem(issued->chain));
  } catch (const std::exception& error) {
    err << "medgw enroll: the certificate was issued but cannot be stored: " << error.what() << "\n";
    return exit_failure;
  }
  X509* certificate = issued->chain.front().get();
  const std::string serial = certificate_serial(certificate);
  const std::string not_after = base::rfc3339_utc(certificate_validity(certificate).not_after);
  logger.info("cert.enrolled", "a certificate was issued with an enrollment ticket",
              {{"cert", central.cert}, {"serial", serial}, {"not_after", not_after}});
  out << "enrolled: " << central.cert.string() << " (serial " << serial << ", valid until " << not_after
      << "), key " << central.key.string() << " (mode 0600)\n";
  if (::geteuid() == 0) {
    err << "medgw enroll: the files belong to root: give them to the service user (chown medgw: "
        << central.key.string() << " " << central.cert.string()
        << "), or enroll as that user (sudo -u medgw medgw enroll ...)\n";
  }
  return exit_ok;
}

}  // namespace medgw::daemon
