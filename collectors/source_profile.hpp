#pragma once
// What a collector knows about one kind of source: how to read a file's path
// (and, when given, its content) into manifest meta and anomalies. The
// collection pass is the same for every source; only the profile differs.
#include <collectors/anomaly.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace medgw::collectors {

struct Analysis {
  std::string meta_json = "{}";  // goes into the encrypted manifest; may name the patient
  AnomalySet anomalies = 0;
  std::string patient_id;        // only for the keyed tag in logs; empty when unknown
};

class SourceProfile {
 public:
  virtual ~SourceProfile() = default;
  // `content` is empty for entries sent without content (renames, deletions).
  [[nodiscard]] virtual Analysis analyze(std::string_view relative_path,
                                         std::optional<std::string_view> content) const = 0;
};

}  // namespace medgw::collectors
