#pragma once
// THE table of medgw.yaml keys: one row per key with its type, default,
// validator, one-line description and where it goes in Config. The loader,
// the environment checks and docs/config.md are all driven by it; a key that
// is not here does not exist.
#include <daemon/config/config.hpp>

#include <span>
#include <string>
#include <string_view>
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

struct ConfigValue {
  std::string text;
  std::vector<std::string> list;
  std::uint64_t size = 0;
  Duration duration{};
  TimeWindow window;
};

// Defaults that differ by source type, e.g. scan_interval 10m for ssmix2 but
// 1h for the monthly DPC and receipt exports.
struct TypeDefault {
  SourceType type;
  std::string_view text;
};

struct KeySpec {
  std::string_view key;  // "central.chunk"; per-source keys are "sources[].settle"
  ValueKind kind;
  std::string_view type_label;    // how docs name the type
  bool required;
  std::string_view default_text;  // YAML text of the default; unused when required
  std::string_view doc;           // one line
  std::span<const std::string_view> choices;
  std::span<const TypeDefault> type_defaults;
  // Extra validation after the kind's own parsing: empty string = fine.
  std::string (*check)(const ConfigValue& value);
  // Stores the value; `source` is the current sources[] item for per-source keys.
  void (*apply)(Config& config, SourceConfig* source, const ConfigValue& value);
};

[[nodiscard]] std::span<const KeySpec> config_table();

inline constexpr std::string_view source_list_key = "sources";
inline constexpr std::string_view source_item_prefix = "sources[].";

// The default for `spec`, for a source of `type` where the key is per-source.
[[nodiscard]] std::string_view default_for(const KeySpec& spec, std::optional<SourceType> type);

// Markdown reference of every key (docs/config.md).
[[nodiscard]] std::string config_reference_markdown();

}  // namespace medgw::daemon
