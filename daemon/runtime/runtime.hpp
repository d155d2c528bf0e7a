#pragma once
// What every command that writes the state builds from the config, in this
// order (and torn down in reverse): logging, state.db (with the writer lock,
// bound to the facility), the gateway's signing key, the patient tagger, the
// spool (recovered). Built here once, passed to the components.
#include <daemon/config/config.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <crypto/patient_tag.hpp>
#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <iosfwd>
#include <memory>
#include <optional>
#include <string_view>

namespace medgw::daemon {

struct RuntimeOptions {
  // The lowest level shown on stderr: one-shot commands keep the terminal to
  // warnings and print their own summary; the daemon logs at log.level.
  log::Level stderr_level = log::Level::warn;
};

struct Runtime {
  Config config;
  std::shared_ptr<log::LogCore> log_core;
  log::Logger logger;
  // The sinks' filters, for a reloaded log.level (log.file is bound at start).
  log::Level stderr_floor = log::Level::warn;
  std::shared_ptr<log::FilteredSink> stderr_sink;
  std::shared_ptr<log::FilteredSink> file_sink;
  std::optional<spool::StateDb> state;
  std::optional<crypto::SigningKey> signer;
  std::optional<crypto::PatientTagger> tagger;
  std::optional<spool::Spool> spool;
  spool::RecoveryReport recovery;

  Runtime(Config config, std::shared_ptr<log::LogCore> core);
  ~Runtime();

  // Applies a new log.level to every sink (from any thread).
  void set_log_level(log::Level level);
};

// Throws (std::exception with an operator-facing message) when something
// cannot be opened: another process holds the state, a key file is exposed...
[[nodiscard]] std::unique_ptr<Runtime> open_runtime(const Config& config, const RuntimeOptions& options = {});

// For the commands: open_runtime, or nullptr after printing
// "medgw COMMAND: why" to `err` (the command then exits 1).
[[nodiscard]] std::unique_ptr<Runtime> open_runtime_reporting(const Config& config, std::string_view command,
                                                              std::ostream& err);

// state.db as the gateway uses it: the spool's and the collectors' tables.
[[nodiscard]] const spool::Schema& gateway_schema();

// The parsed central.recipients of a validated config.
[[nodiscard]] std::vector<crypto::X25519PublicKey> recipients_of(const Config& config);

// Who the spool's objects are for and signed by (state, signer of `runtime`).
[[nodiscard]] spool::SpoolIdentity spool_identity(const Runtime& runtime);

// The spool folder and limits of a config.
[[nodiscard]] std::filesystem::path spool_dir(const Config& config);
[[nodiscard]] spool::SpoolLimits spool_limits(const Config& config);

}  // namespace medgw::daemon
