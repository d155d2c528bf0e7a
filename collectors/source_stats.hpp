#pragma once
// What status shows for one collected source, read from state.db: the files
// indexed now, how many of them carry each anomaly, and the last pass.
// Counts only; no path or patient leaves this struct.
#include <collectors/anomaly.hpp>

#include <base/sqlite.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace medgw::collectors {

struct SourceStats {
  std::uint64_t indexed_files = 0;
  std::uint64_t indexed_bytes = 0;
  std::array<std::uint64_t, anomaly_count> anomalies{};  // indexed files with each kind
  std::optional<std::int64_t> last_pass_ms;               // when the last pass ended (Unix ms)
  std::string last_outcome;                               // finished, paused or failed; empty before any
  std::string last_line;                                  // its one-line summary or why it failed
  std::string last_pass_json;                             // its PassSummary::to_json(), or empty

  [[nodiscard]] std::uint64_t files_with_problems() const;  // notices not counted
};

// The database must have the collector tables (schema 3 or later).
[[nodiscard]] SourceStats read_source_stats(base::Database& db, std::string_view source);

}  // namespace medgw::collectors
