#pragma once
// Reads medgw.yaml against the config table. Every problem is collected (not
// just the first) as a Diagnostic with the file, line and column.
#include <daemon/config/config.hpp>
#include <daemon/config/config_table.hpp>

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::daemon {

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::filesystem::path file;
  int line = 1;  // 1-based
  int column = 1;
  std::string message;

  // "FILE:LINE:COL: message" or "FILE:LINE:COL: warning: message"
  [[nodiscard]] std::string format() const;
};

struct Position {
  int line = 1;
  int column = 1;
};

struct LoadResult {
  std::optional<Config> config;  // set only when there is no error
  std::vector<Diagnostic> diagnostics;
  // Where each key's value was written: "central.ca", "sources[0].path", ...
  std::map<std::string, Position> positions;
  const ConfigSchema* schema = nullptr;  // what it was read against

  [[nodiscard]] bool ok() const noexcept { return config.has_value(); }
};

// For the commands: the config of -c, or nullopt after printing each error as
// FILE:LINE:COL: message to `err` (the command then exits 2).
[[nodiscard]] std::optional<Config> load_config_reporting(const std::filesystem::path& file,
                                                         const ConfigSchema& schema, std::ostream& err);

// `schema`: the key table and the source types (the gateway's is
// daemon::config_schema(), daemon/runtime/source_registry.hpp); it must
// outlive the result.
[[nodiscard]] LoadResult load_config(const std::filesystem::path& file, const ConfigSchema& schema);
// `file` only names the text in diagnostics.
[[nodiscard]] LoadResult parse_config(std::string_view yaml, const std::filesystem::path& file,
                                      const ConfigSchema& schema);

// Checks of this machine against a valid config: files and folders exist and
// are readable, the client key is private, the status server stays local.
// Returned as warnings; `medgw run` treats the fatal ones as start-up errors.
[[nodiscard]] std::vector<Diagnostic> check_environment(const LoadResult& loaded);

}  // namespace medgw::daemon
