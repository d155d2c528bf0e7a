#pragma once
// The configuration as a support bundle shows it: read against the key table
// (valid or not), each value through its key's sensitivity mark - secret
// values as <secret>, phi_path values as a keyed tag, plain values as they
// are unless they look like a credential - and never the file itself.
// Unknown keys are named, never their values.
#include <daemon/config/config_loader.hpp>
#include <daemon/config/config_table.hpp>
#include <daemon/support/redactor.hpp>

#include <crypto/patient_tag.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medgw::daemon {

struct ConfigItem {
  std::string key;  // "central.ca", "sources[0].path"
  int line = 0;
  const KeySpec* spec = nullptr;  // nullptr: an unknown key
  std::vector<std::string> values;  // one for a scalar; a list's items
  bool list = false;
};

// What medgw.yaml holds, key by key, whether or not it is valid.
struct ConfigValues {
  std::vector<ConfigItem> items;
  std::string problem;  // the file cannot be read or is not YAML

  // The scalar text of a key ("" when absent), unvalidated.
  [[nodiscard]] std::string text(std::string_view key) const;
};
[[nodiscard]] ConfigValues read_config_values(const std::filesystem::path& file, const ConfigSchema& schema);

// How a value is shown: its mark's replacement, or the value.
[[nodiscard]] std::string shown_value(const ConfigItem& item, const std::string& value,
                                      const crypto::PatientTagger& tagger);

// (value, replacement) for every value that must not appear anywhere in a
// bundle: secret and phi_path values, and plain ones that look like secrets.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> marked_values(const ConfigValues& values,
                                                                             const crypto::PatientTagger& tagger);

// config.json of the bundle: the values shown, the defaults in force, the
// loader's errors and the machine's warnings (each redacted).
[[nodiscard]] std::string render_config_json(const std::filesystem::path& file, const ConfigValues& values,
                                             const ConfigSchema& schema, const LoadResult& loaded,
                                             const std::vector<Diagnostic>& warnings, const Redactor& redactor,
                                             const crypto::PatientTagger& tagger);

}  // namespace medgw::daemon
