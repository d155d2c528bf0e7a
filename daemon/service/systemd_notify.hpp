#pragma once
// The daemon's side of systemd's notify protocol (Type=notify): READY=1,
// RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1. Without NOTIFY_SOCKET (run
// by hand, or under another supervisor) every call does nothing.
#include <chrono>
#include <optional>
#include <string_view>

namespace medgw::daemon {

class SystemdNotifier {
 public:
  SystemdNotifier();

  void ready(std::string_view status) const;
  void reloading() const;
  void stopping(std::string_view status) const;
  void status(std::string_view status) const;
  void watchdog() const;
  // The watchdog period systemd expects pings within (WatchdogSec=), when set
  // for this process.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_; }

 private:
  void send(std::string_view message) const;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace medgw::daemon
