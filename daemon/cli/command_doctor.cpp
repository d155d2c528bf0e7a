// medgw doctor [--json]: checks of this machine and of the path to the
// central, each OK / WARN / FAIL with what to do (daemon/support/doctor.hpp).
#include <daemon/cli/commands.hpp>

#include <daemon/support/doctor.hpp>

#include <ostream>

#include <curl/curl.h>

namespace medgw::daemon {

int command_doctor(Invocation& invocation) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any transfer
  const DoctorReport report = run_doctor(invocation.config_path(), DoctorOptions{});
  if (invocation.has("json")) {
    *invocation.out << report.json() << "\n";
  } else {
    *invocation.out << report.text();
  }
  return report.failed() ? exit_failure : exit_ok;
}

}  // namespace medgw::daemon
