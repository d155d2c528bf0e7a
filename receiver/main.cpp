// medgw-receiver: the reference central collector (tus over mutual TLS).
//
//   medgw-receiver -c receiver.yaml                 serve (foreground; SIGTERM/SIGINT stop it)
//   medgw-receiver status [--json] -c receiver.yaml facilities, objects, seq gaps, landing
//   medgw-receiver landing retry|skip SEQ --facility CODE -c receiver.yaml
//   medgw-receiver receipt-key -c receiver.yaml
//   medgw-receiver patient-tag PATIENT_ID -c receiver.yaml
//   medgw-receiver backup list|forget --facility CODE ... -c receiver.yaml
//   medgw-receiver ticket|revoke|certs ... -c receiver.yaml
#include <receiver/cert_commands.hpp>
#include <receiver/commands.hpp>
#include <receiver/connection_limiter.hpp>
#include <receiver/receiver_config.hpp>
#include <receiver/tus_server.hpp>

#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <chrono>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

constexpr std::string_view usage = R"(medgw-receiver: the reference central collector for medgw gateways.

Usage:
  medgw-receiver -c receiver.yaml          serve tus 1.0 over mutual TLS (foreground)
  medgw-receiver status [--json] -c receiver.yaml
                                           facilities, objects received, seq gaps, landing:
                                           quarantined objects and a paused landing
  medgw-receiver landing retry SEQ --facility CODE -c receiver.yaml
                                           land a quarantined (or skipped) object again, then
                                           every later object again, in seq order
  medgw-receiver landing skip SEQ --facility CODE -c receiver.yaml
                                           give up landing a quarantined object (it stays in
                                           the store; status counts it)
  medgw-receiver receipt-key -c receiver.yaml
                                           print the receipt-signing public key (ed25519:...) for
                                           the gateways' central.receipt_key
  medgw-receiver patient-tag PATIENT_ID -c receiver.yaml
                                           print the tag (pt:xxxxxxxx) the receiver's log uses
                                           for that patient (a keyed hash; logs never hold IDs)
  medgw-receiver backup list --facility CODE -c receiver.yaml
                                           the facility's backup snapshots (from their clear,
                                           signed pack lists) and its use of backup.quota
  medgw-receiver backup forget --facility CODE --keep-daily N --keep-monthly N [--dry-run]
                                           -c receiver.yaml
                                           retention of the facility's backup, with no key: keeps
                                           the newest snapshot of each of the last N days and N
                                           months, removes the rest and every pack no kept
                                           snapshot needs (run it from cron, e.g. daily)
  medgw-receiver ticket --facility CODE [--valid 7d] [-o FILE] -c receiver.yaml
                                           a one-time enrollment ticket for a gateway of the
                                           facility (stored hashed, works once, expires; default
                                           ca.ticket_validity); the hospital runs
                                           medgw enroll --ticket-file FILE
  medgw-receiver revoke SERIAL | --facility CODE -c receiver.yaml
                                           revoke a certificate (hex serial) or every one of a
                                           facility: refused at once, on every path; the CRL
                                           (data_dir/crl.pem, GET /.well-known/est/crl) follows
  medgw-receiver certs [--json] -c receiver.yaml
                                           the certificates issued: facility, serial, expiry,
                                           state (valid, superseded, expired, revoked)

It accepts uploads only from client certificates listed under facilities in
receiver.yaml, and only of objects signed by one of the facility's gateway
keys; it verifies each object's SHA-256 and signature, stores it under
data_dir/store/<facility>/<seq>-<object_id>.age, issues signed receipts
(GET <base_path>receipts/<object_id>) and, with landing + identity set,
decrypts and unpacks objects in seq order into landing/<facility>/.

With backup: {dir, quota} set, gateways with backup.repository: https://…/backup/
store their encrypted backups under backup.dir/<facility>/ through
<backup.path> (default /backup/) on the same listener: write once (a name is
never replaced, nothing is deleted by a gateway), at most backup.quota
[1TiB] per facility. The central cannot read them: they are encrypted to
the hospital's recovery key.

With ca: {cert, key | command, validity [90d], grace [7d], ticket_validity
[7d]} set, the receiver is also the gateways' certificate authority (EST,
RFC 7030, under /.well-known/est/ on the same listener; docs/certificates.md):
a gateway enrolls once with a ticket, then renews by itself over mutual TLS.
A client without a certificate reaches only that path.

An object that cannot be landed (a name outside the tree, a file its manifest
does not list, a decompression bomb, ...) is quarantined: the log says so
(event receiver.landing_quarantined), status lists it, and landing goes on
with the next seq until an operator runs landing retry or skip. Landing that
fails for want of disk space or permissions pauses and tries again itself.

Limits (receiver.yaml; defaults in brackets): max_connections [4096, held
below the open-file limit], max_handshakes [1024], handshake_timeout [10s],
idle_timeout [60s], max_connections_per_facility [64],
max_open_uploads_per_facility [64], max_inflight_bytes_per_facility [128GiB],
max_upload [64GiB], min_free [2GiB], landing_max_ratio [1000],
landing_max_member_size [64GiB]. When connections run out, the oldest one
still in its TLS handshake is closed to make room, so idle connections cannot
lock gateways out.
)";

struct Arguments {
  std::string config_file;
  std::string command;  // "", status, receipt-key, landing
  std::vector<std::string> operands;
  std::string facility;
  bool json = false;
  unsigned keep_daily = 0;
  unsigned keep_monthly = 0;
  bool dry_run = false;
  std::optional<std::chrono::seconds> valid;  // ticket --valid
  std::string output;                         // ticket -o
};

bool parse_count(const std::string& text, unsigned& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && value <= 100000;
}

// Parsed arguments, or an exit code.
std::variant<Arguments, int> parse_arguments(const std::vector<std::string>& args) {
  Arguments out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    }
    if ((arg == "-c" || arg == "--config") && i + 1 < args.size()) {
      out.config_file = args[++i];
    } else if (arg == "--facility" && i + 1 < args.size()) {
      out.facility = args[++i];
    } else if (arg == "--json") {
      out.json = true;
    } else if (out.command == "backup" && (arg == "--keep-daily" || arg == "--keep-monthly") && i + 1 < args.size()) {
      if (!parse_count(args[++i], arg == "--keep-daily" ? out.keep_daily : out.keep_monthly)) {
        std::cerr << "medgw-receiver: " << arg << " " << args[i] << ": give a whole number, e.g. 7\n";
        return 2;
      }
    } else if (out.command == "backup" && arg == "--dry-run") {
      out.dry_run = true;
    } else if (out.command == "ticket" && arg == "--valid" && i + 1 < args.size()) {
      out.valid = medgw::receiver::parse_validity(args[++i]);
      if (!out.valid) {
        std::cerr << "medgw-receiver: --valid " << args[i] << ": give a duration like 7d, 12h or 30m\n";
        return 2;
      }
    } else if (out.command == "ticket" && (arg == "-o" || arg == "--output") && i + 1 < args.size()) {
      out.output = args[++i];
    } else if (out.command.empty() &&
               (arg == "status" || arg == "receipt-key" || arg == "landing" || arg == "patient-tag" || arg == "backup" ||
                arg == "ticket" || arg == "revoke" || arg == "certs")) {
      out.command = arg;
    } else if ((out.command == "landing" && out.operands.size() < 2 && !arg.starts_with("-")) ||
               (out.command == "patient-tag" && out.operands.empty()) ||
               (out.command == "revoke" && out.operands.empty() && !arg.starts_with("-")) ||
               (out.command == "backup" && out.operands.empty() && (arg == "list" || arg == "forget"))) {
      out.operands.push_back(arg);
    } else {
      std::cerr << "medgw-receiver: unknown argument '" << arg << "'\n\n" << usage;
      return 2;
    }
  }
  if (out.config_file.empty()) {
    std::cerr << "medgw-receiver: -c receiver.yaml is required\n\n" << usage;
    return 2;
  }
  if (out.command == "landing" && (out.operands.size() != 2 || out.facility.empty())) {
    std::cerr << "medgw-receiver: landing retry|skip SEQ --facility CODE\n\n" << usage;
    return 2;
  }
  if (out.command == "backup" && (out.operands.size() != 1 || out.facility.empty())) {
    std::cerr << "medgw-receiver: backup list|forget --facility CODE\n\n" << usage;
    return 2;
  }
  if (out.command == "ticket" && out.facility.empty()) {
    std::cerr << "medgw-receiver: ticket --facility CODE [--valid 7d] [-o FILE]\n\n" << usage;
    return 2;
  }
  if (out.command == "revoke" && out.operands.empty() == out.facility.empty()) {
    std::cerr << "medgw-receiver: revoke SERIAL, or revoke --facility CODE (one of the two)\n\n" << usage;
    return 2;
  }
  if (out.command == "patient-tag" && out.operands.size() != 1) {
    std::cerr << "medgw-receiver: patient-tag PATIENT_ID\n\n" << usage;
    return 2;
  }
  return out;
}

int serve(medgw::receiver::ReceiverConfig config) {
  auto core = std::make_shared<medgw::log::LogCore>(medgw::log::Level::info);
  core->add_sink(std::make_shared<medgw::log::StderrSink>());
  medgw::log::Logger logger(core, "receiver");
  // The connection caps must fit the descriptors this process may open.
  const std::uint64_t files = medgw::receiver::raise_open_file_limit();
  const std::uint64_t fitting = medgw::receiver::connections_within_file_limit(config.max_connections, files);
  if (fitting < config.max_connections) {
    logger.warn("receiver.max_connections_lowered", "max_connections lowered to fit the open-file limit (LimitNOFILE)",
                {{"configured", config.max_connections}, {"now", fitting}, {"open_file_limit", files}});
    config.max_connections = fitting;
  }
  config.max_handshakes = std::min(config.max_handshakes, config.max_connections);
  // One thread runs the event loop (concurrency hint 1: no locking inside
  // Asio); several threads made every read completion a cross-thread
  // wake-up and halved the throughput. Landing has its own worker thread.
  boost::asio::io_context io(1);
  medgw::receiver::TusServer server(io, config, logger);
  const std::uint16_t port = server.start();
  server.resume_landing();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    // Every connection is closed; the loop ends when their sessions and the
    // completions in progress are done. Nothing durable depends on a clean
    // stop (a kill -9 loses nothing), so a stop that hangs is cut short.
    server.stop();
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      std::_Exit(0);
    }).detach();
  });
  // "listening on PORT" on stdout: scripts and tests wait for it.
  std::cout << "medgw-receiver: listening on " << port << std::endl;
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse_arguments(std::vector<std::string>(argv + 1, argv + argc));
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const Arguments& args = std::get<Arguments>(parsed);
  medgw::receiver::ReceiverConfig config;
  try {
    config = medgw::receiver::load_receiver_config(args.config_file);
  } catch (const medgw::receiver::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return 2;
  }
  try {
    if (args.command == "status") return medgw::receiver::command_status(config, args.json);
    if (args.command == "landing") {
      return medgw::receiver::command_landing(config, args.operands[0], args.operands[1], args.facility);
    }
    if (args.command == "patient-tag") return medgw::receiver::command_patient_tag(config, args.operands[0]);
    if (args.command == "backup" && args.operands[0] == "list") {
      return medgw::receiver::command_backup_list(config, args.facility);
    }
    if (args.command == "backup") {
      return medgw::receiver::command_backup_forget(config, args.facility, args.keep_daily, args.keep_monthly,
                                                    args.dry_run);
    }
    if (args.command == "ticket") return medgw::receiver::command_ticket(config, args.facility, args.valid, args.output);
    if (args.command == "revoke") {
      return medgw::receiver::command_revoke(config, args.operands.empty() ? std::string() : args.operands[0],
                                             args.facility);
    }
    if (args.command == "certs") return medgw::receiver::command_certs(config, args.json);
    if (args.command == "receipt-key") {
      std::filesystem::create_directories(config.data_dir);
      std::cout << medgw::crypto::SigningKey::load_or_create(config.receipt_key).public_key_text() << "\n";
      return 0;
    }
    return serve(std::move(config));
  } catch (const std::exception& error) {
    std::cerr << "medgw-receiver: " << error.what() << "\n";
    return 1;
  }
}
