#pragma once
// `medgw diag`: the support bundle. Built from an allowlist - each entry is
// known to be safe by construction or passed through the redactor, and
// listed in MANIFEST.json with its SHA-256 and why it is there: version and
// build, OS and packages, the configuration through the table's sensitivity
// marks, doctor's findings, the status server's pages, state.db's counts,
// certificate facts, the recent log (redacted) and the systemd unit's state.
// Works while the service runs, with state.db locked or damaged, and with an
// invalid configuration (the bundle then carries the errors).
#include <daemon/support/doctor.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace medgw::daemon {

struct DiagOptions {
  std::filesystem::path config_file;
  std::filesystem::path output;  // empty: medgw-diag-<facility>-<time>.tar.zst[.age] here
  bool review = false;           // in clear, for the hospital to read first
  std::chrono::milliseconds since{std::chrono::hours(24)};  // how far back the log goes
  std::size_t log_budget = 10u << 20;                      // redacted log text kept, all logs together
  std::string build;             // `medgw --version`
  DoctorOptions doctor{std::chrono::milliseconds(5'000), std::chrono::milliseconds(3'000),
                       std::chrono::milliseconds(3'000)};
};

struct DiagResult {
  int exit_code = 0;                // 0, 1 (could not write), 2 (nothing to encrypt to)
  std::filesystem::path file;
  std::string message;              // for the operator: what was written, or what to do
};

// curl must have been initialised by the caller.
[[nodiscard]] DiagResult run_diag(const DiagOptions& options);

}  // namespace medgw::daemon
