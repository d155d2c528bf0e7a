#pragma once
// When the client certificate (central.cert) stops being valid, for
// /healthz and /metrics: a hospital must renew it before uploads stop.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

namespace medgw::daemon {

// The first certificate's notAfter, or an operator-facing reason it cannot be
// read (no PEM certificate in the file, not readable).
[[nodiscard]] std::variant<std::chrono::system_clock::time_point, std::string> certificate_not_after(
    const std::filesystem::path& file);

// The first certificate's notBefore, or nullopt when it cannot be read.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> certificate_not_before(
    const std::filesystem::path& file);

}  // namespace medgw::daemon
