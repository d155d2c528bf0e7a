#pragma once
#include <chrono>
#include <string>

namespace medgw::base {

// "2026-11-25T03:04:05Z"
[[nodiscard]] std::string rfc3339_utc(std::chrono::system_clock::time_point time);
// "2026-11-25T12:04:05.123456+09:00" in the host's local time zone.
[[nodiscard]] std::string rfc3339_local_micros(std::chrono::system_clock::time_point time);

}  // namespace medgw::base
