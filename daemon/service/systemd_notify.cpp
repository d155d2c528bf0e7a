#include <daemon/service/systemd_notify.hpp>

#include <ctime>
#include <string>

#include <systemd/sd-daemon.h>

namespace medgw::daemon {
namespace {

// STATUS= is one line for `systemctl status`.
std::string one_line(std::string_view text) {
  std::string line(text.substr(0, 200));
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

SystemdNotifier::SystemdNotifier() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

void SystemdNotifier::send(std::string_view message) const {
  const std::string text(message);
  (void)sd_notify(0, text.c_str());
}

void SystemdNotifier::ready(std::string_view status) const { send("READY=1\nSTATUS=" + one_line(status)); }

void SystemdNotifier::reloading() const {
  // systemd >= 253 (Type=notify-reload) wants the monotonic time with it.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
                    static_cast<unsigned long long>(now.tv_nsec / 1000);
  send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::stopping(std::string_view status) const { send("STOPPING=1\nSTATUS=" + one_line(status)); }

void SystemdNotifier::status(std::string_view status) const { send("STATUS=" + one_line(status)); }

void SystemdNotifier::watchdog() const { send("WATCHDOG=1"); }

}  // namespace medgw::daemon
