#pragma once
// The gateway configuration (medgw.yaml, DESIGN.md §4) as an immutable
// snapshot. Keys, defaults and validation live in one table
// (config_table.cpp); see docs/config.md, generated from it.
#include <daemon/config/units.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::daemon {

enum class UnidentifiedPolicy { hold, send };

// One parsed value of a key (the field its kind uses).
struct ConfigValue {
  std::string text;
  std::vector<std::string> list;
  std::uint64_t size = 0;
  Duration duration{};
  TimeWindow window;
};

struct FacilityConfig {
  std::string code;  // 9 digits: prefecture (2) + medical institution code (7)
  std::string name;
};

// One item of `sources`. The keys every source has are fields; the keys of
// its type (a folder path, a DICOM listen address...) are declared by the
// type (daemon/runtime/source_*.cpp) and kept, parsed, in `settings`.
struct SourceConfig {
  std::string name;
  std::string type;  // a source type of the registry (daemon/runtime/source_registry.cpp)
  Duration scan_interval{};
  Duration settle{};
  std::map<std::string, ConfigValue, std::less<>> settings;  // the type's keys, defaults applied

  [[nodiscard]] const ConfigValue* setting(std::string_view key) const {
    const auto found = settings.find(key);
    return found == settings.end() ? nullptr : &found->second;
  }
  // A path or text key of the type; empty when not set.
  [[nodiscard]] std::filesystem::path path(std::string_view key) const {
    const ConfigValue* value = setting(key);
    return value == nullptr ? std::filesystem::path() : std::filesystem::path(value->text);
  }
  [[nodiscard]] std::string text(std::string_view key) const {
    const ConfigValue* value = setting(key);
    return value == nullptr ? std::string() : value->text;
  }
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
  std::filesystem::path crl;                 // PEM CRLs of the central's CAs; empty = none
  int renew_at_percent = 67;                 // renew once this much of the lifetime passed; 0 = never
};

struct SpoolConfig {
  std::uint64_t max_bytes = 0;
  std::uint64_t min_free = 0;
};

// policy.notice: the notice period (本人通知) before a patient's data may go.
struct NoticeConfig {
  std::string start;                    // "YYYY-MM-DD" the notice began; empty = off
  Duration wait = std::chrono::days(30);
  std::filesystem::path register_file;  // CSV patient_id,notified_on; empty = none
};

struct PolicyConfig {
  std::string since;  // "", "YYYY-MM-DD" or "<N>y"
  std::filesystem::path optout_file;
  UnidentifiedPolicy unidentified = UnidentifiedPolicy::hold;
  NoticeConfig notice;
};

struct StatusConfig {
  std::string listen;  // host:port
};

// The hospital's own write-only backup (issue 16; daemon/backup).
struct BackupConfig {
  std::string repository;               // a folder (absolute path); empty = no backup
  std::vector<std::string> recipients;  // "age1...": the recovery key and any escrow key
  std::string schedule;                 // "HH:MM" local time, daily; empty = only `medgw backup run`
};

struct SupportConfig {
  std::string recipient;  // "age1...": the support team's key, for `medgw diag` bundles; empty = none
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
  BackupConfig backup;
  SupportConfig support;
  StatusConfig status;
  LogConfig log;
};

inline constexpr std::string_view default_config_path = "/etc/medgw/medgw.yaml";

}  // namespace medgw::daemon
