#pragma once
// The machine as a support bundle describes it: the OS release, the kernel,
// the versions of medgw's packages and libraries, the systemd unit's state.
// Nothing names the host.
#include <string>
#include <string_view>

namespace medgw::daemon {

// system.json (medgw's own version is version.txt).
[[nodiscard]] std::string system_json();

// What `systemctl show medgw` says about the unit (state, restarts, drop-ins),
// or why it cannot be asked.
[[nodiscard]] std::string systemd_unit_text();

}  // namespace medgw::daemon
