#pragma once
#include <chrono>
#include <string>

namespace medgw::crypto {

// RFC 9562 UUID version 7: 48-bit Unix milliseconds, then random bits, so
// identifiers sort by creation time. Lower-case canonical text form.
[[nodiscard]] std::string uuid_v7(std::chrono::system_clock::time_point now);

}  // namespace medgw::crypto
