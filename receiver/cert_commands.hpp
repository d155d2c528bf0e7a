#pragma once
// medgw-receiver ticket|revoke|certs (issue 22, docs/certificates.md).
#include <receiver/receiver_config.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace medgw::receiver {

// "7d", "12h", "30m", "90s" (at most ten years), or nullopt.
[[nodiscard]] std::optional<std::chrono::seconds> parse_validity(std::string_view text);

// `ticket --facility CODE [--valid 7d] [-o FILE]`: a one-time ticket file on
// stdout or in FILE (0600). Exit 0, 1.
int command_ticket(const ReceiverConfig& config, const std::string& facility, std::optional<std::chrono::seconds> valid,
                   const std::filesystem::path& output);
// `revoke SERIAL` or `revoke --facility CODE`. Exit 0, 1, 2 (not a serial).
int command_revoke(const ReceiverConfig& config, const std::string& serial, const std::string& facility);
// `certs [--json]`: every certificate issued, with its state. Exit 0, 1.
int command_certs(const ReceiverConfig& config, bool json);

}  // namespace medgw::receiver
