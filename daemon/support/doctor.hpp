#pragma once
// `medgw doctor`: checks this machine and the path to the central, each as
// OK / WARN / FAIL with a sentence saying what to do. Works with the service
// running or stopped: it only reads (state.db read-only, no writer lock) and
// asks the service's status server how it is.
#include <daemon/support/check.hpp>

#include <chrono>
#include <filesystem>

namespace medgw::daemon {

struct DoctorOptions {
  std::chrono::milliseconds network_deadline{10'000};  // each network step
  std::chrono::milliseconds walk_budget{5'000};        // counting the sources' folders
  std::chrono::milliseconds status_deadline{3'000};    // the local status server
};

// curl must have been initialised (curl_global_init) by the caller.
[[nodiscard]] DoctorReport run_doctor(const std::filesystem::path& config_file, const DoctorOptions& options);

}  // namespace medgw::daemon
