#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace medgw::base {

// Milliseconds since the Unix epoch, now (the system clock): what the state
// databases store as times.
[[nodiscard]] inline std::int64_t unix_ms_now() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-25T03:04:05Z"
[[nodiscard]] std::string rfc3339_utc(std::chrono::system_clock::time_point time);
// "2026-11-25T12:04:05.123456+09:00" in the host's local time zone.
[[nodiscard]] std::string rfc3339_local_micros(std::chrono::system_clock::time_point time);

}  // namespace medgw::base
