#pragma once
// The gateway configuration (medgw.yaml, DESIGN.md §4) as an immutable
// snapshot. Keys, defaults and validation live in one table
// (config_table.cpp); see docs/config.md, generated from it.
#include <daemon/config/units.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace medgw::daemon {

enum class SourceType { ssmix2, dpc, receipt };
enum class UnidentifiedPolicy { hold, send };

[[nodiscard]] std::string_view source_type_name(SourceType type);

struct FacilityConfig {
  std::string code;  // 9 digits: prefecture (2) + medical institution code (7)
  std::string name;
};

struct SourceConfig {
  std::string name;
  SourceType type = SourceType::ssmix2;
  std::filesystem::path path;
  std::filesystem::path extended_path;  // SS-MIX2 extended storage; empty = none
  Duration scan_interval{};
  Duration settle{};
};

struct CentralConfig {
  std::string url;
  std::filesystem::path ca;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::vector<std::string> pins;  // "sha256//<base64>"
  std::string proxy;
  std::vector<std::string> recipients;  // "age1..."
  std::uint64_t bandwidth = 0;          // bytes per second, 0 = no cap
  TimeWindow window;
  std::uint64_t chunk = 0;
  std::string tls_min = "1.3";               // "1.3" or "1.2"
  std::filesystem::path key_password_file;   // passphrase of an encrypted central.key
  std::filesystem::path receipt_key;         // the central's receipt-signing public key (ed25519:...)
};

struct SpoolConfig {
  std::uint64_t max_bytes = 0;
  std::uint64_t min_free = 0;
};

struct PolicyConfig {
  std::string since;  // "", "YYYY-MM-DD" or "<N>y"
  std::filesystem::path optout_file;
  UnidentifiedPolicy unidentified = UnidentifiedPolicy::hold;
};

struct StatusConfig {
  std::string listen;  // host:port
};

struct LogConfig {
  std::string level;
  std::filesystem::path file;  // empty = stderr only
};

struct Config {
  std::filesystem::path origin;  // the file it was read from
  FacilityConfig facility;
  std::filesystem::path state_dir;
  std::vector<SourceConfig> sources;
  CentralConfig central;
  SpoolConfig spool;
  PolicyConfig policy;
  StatusConfig status;
  LogConfig log;
};

inline constexpr std::string_view default_config_path = "/etc/medgw/medgw.yaml";

}  // namespace medgw::daemon
