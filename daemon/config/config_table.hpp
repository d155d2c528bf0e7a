#pragma once
// THE table of medgw.yaml keys: one row per key with its type, default,
// validator, sensitivity, one-line description and where it goes in Config.
// The loader, the environment checks, diagnostics' redaction and
// docs/config.md are all driven by it; a key that is not here does not exist.
//
// Source types bring their own keys (sources[].path for a folder type,
// listen for a DICOM receiver...): each type declares them in a
// SourceTypeSpec next to its code, and the registry of source types
// (daemon/runtime/source_registry.cpp) hands them to the loader in a
// ConfigSchema. The config knows no source type by name.
#include <daemon/config/config.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medgw::daemon {

enum class ValueKind {
  text,      // a scalar string
  path,      // an absolute path (or empty when optional)
  size,      // "16MiB"
  duration,  // "30s"
  window,    // "19:00-07:00"
  choice,    // one of `choices`
  list,      // a sequence of scalar strings
};

// What a value may reveal, for anything that shows the configuration to
// someone else (support diagnostics): `secret` values are never shown,
// `phi_path` values (folders that may name patients or wards) only as a
// keyed tag.
enum class Sensitivity { plain, secret, phi_path };
[[nodiscard]] std::string_view sensitivity_name(Sensitivity sensitivity);

struct KeySpec {
  std::string_view key;  // "central.chunk"; per-source keys are "sources[].settle", a type's own just "path"
  ValueKind kind;
  std::string_view type_label;    // how docs name the type
  bool required;
  std::string_view default_text;  // YAML text of the default; unused when required
  std::string_view doc;           // one line
  std::span<const std::string_view> choices;
  // Extra validation after the kind's own parsing: empty string = fine.
  std::string (*check)(const ConfigValue& value);
  // Stores the value; `source` is the current sources[] item for per-source
  // keys. nullptr for a source type's keys: they go to SourceConfig::settings.
  void (*apply)(Config& config, SourceConfig* source, const ConfigValue& value);
  Sensitivity sensitivity = Sensitivity::plain;
  // A folder medgw reads (a source): must exist, be readable, be distinct
  // from every other and must not overlap state_dir.
  bool source_folder = false;
  // A file that must be private (a key, a password): check-config warns
  // when it is readable by group or others. (Every other path key of a
  // source type that is not a folder is checked to be readable.)
  bool private_file = false;
};

// A source type as the configuration knows it.
struct SourceTypeSpec {
  std::string_view name;         // the value of sources[].type
  std::string_view description;  // one line: what such a source is
  std::span<const KeySpec> keys;  // its own keys under sources[] (short names)
  std::string_view scan_interval;  // defaults
  std::string_view settle;
  // The names its passes use in the index and the manifests (e.g. "ssmix2"
  // and "ssmix2-ext"); unique across all sources.
  std::vector<std::string> (*labels)(const SourceConfig& source);
  // Checks across the type's keys (one key needed in one mode, another in
  // the other): each problem as {key, what is wrong and what to do}.
  std::vector<std::pair<std::string, std::string>> (*check)(const SourceConfig& source) = nullptr;
};

// Everything the loader validates against.
struct ConfigSchema {
  std::span<const KeySpec> keys;                        // config_table()
  std::vector<const SourceTypeSpec*> source_types;      // from the registry
  [[nodiscard]] const SourceTypeSpec* find_type(std::string_view name) const;
  [[nodiscard]] std::string type_names() const;  // "ssmix2, dpc, receipt"
};

[[nodiscard]] std::span<const KeySpec> config_table();

inline constexpr std::string_view source_list_key = "sources";
inline constexpr std::string_view source_item_prefix = "sources[].";

// The keys of a source type, or nullptr.
[[nodiscard]] const KeySpec* find_type_key(const SourceTypeSpec& type, std::string_view key);

// Markdown reference of every key (docs/config.md).
[[nodiscard]] std::string config_reference_markdown(const ConfigSchema& schema);

}  // namespace medgw::daemon
