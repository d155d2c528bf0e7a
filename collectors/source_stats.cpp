#include <collectors/source_stats.hpp>

namespace medgw::collectors {

std::uint64_t SourceStats::files_with_problems() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if (!is_notice(static_cast<Anomaly>(i))) total += anomalies[i];
  }
  return total;
}

SourceStats read_source_stats(base::Database& db, std::string_view source) {
  SourceStats stats;
  {
    base::Statement query = db.prepare("SELECT count(*), coalesce(sum(size), 0) FROM file_index WHERE source = ?1");
    query.bind_all(source);
    if (query.step()) {
      stats.indexed_files = static_cast<std::uint64_t>(query.column_int64(0));
      stats.indexed_bytes = static_cast<std::uint64_t>(query.column_int64(1));
    }
  }
  {
    // The partial index on anomalies keeps this cheap on a large storage.
    base::Statement query = db.prepare(
        "SELECT anomalies, count(*) FROM file_index WHERE source = ?1 AND anomalies != 0 GROUP BY anomalies");
    query.bind_all(source);
    while (query.step()) {
      const auto set = static_cast<AnomalySet>(query.column_int64(0));
      const auto files = static_cast<std::uint64_t>(query.column_int64(1));
      for (std::size_t i = 0; i < anomaly_count; ++i) {
        if ((set & (AnomalySet{1} << i)) != 0) stats.anomalies[i] += files;
      }
    }
  }
  {
    base::Statement query = db.prepare("SELECT finished_at, outcome, line, summary FROM source_passes WHERE source = ?1");
    query.bind_all(source);
    if (query.step()) {
      stats.last_pass_ms = query.column_int64(0);
      stats.last_outcome = query.column_text(1);
      stats.last_line = query.column_text(2);
      stats.last_pass_json = query.column_text(3);
    }
  }
  return stats;
}

}  // namespace medgw::collectors
