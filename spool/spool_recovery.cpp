// Spool: recovery at start.
#include <spool/spool.hpp>

#include <base/private_file.hpp>

#include <map>
#include <system_error>

namespace medgw::spool {

RecoveryReport Spool::recover() {
  RecoveryReport report;
  base::Database& db = state_.db();
  struct Row {
    std::string object_id;
    std::uint64_t seq;
    std::uint64_t size;
    std::string state;
  };
  std::map<std::string, Row> rows;  // by file name
  {
    base::Statement query = db.prepare("SELECT file_name, object_id, seq, size, state FROM objects");
    while (query.step()) {
      rows.emplace(query.column_text(0), Row{query.column_text(1), static_cast<std::uint64_t>(query.column_int64(2)),
                                             static_cast<std::uint64_t>(query.column_int64(3)), query.column_text(4)});
    }
  }

  bool removed_any = false;
  std::map<std::string, std::uint64_t> file_sizes;
  for (const auto& item : std::filesystem::directory_iterator(dir_)) {
    const std::string name = item.path().filename().string();
    std::error_code ec;
    if (name.starts_with(".") && name.find(".tmp-") != std::string::npos) {
      // A build interrupted before its rename: never part of the queue.
      std::filesystem::remove(item.path(), ec);
      ++report.temporary_files_removed;
      removed_any = true;
      continue;
    }
    if (!item.is_regular_file(ec) || !name.ends_with(".age")) continue;
    if (!rows.contains(name)) {
      // Renamed into place but never committed (crash in between), or the
      // file of a delivered object whose removal was cut short. Either way
      // nothing refers to it; the collector sends its content again.
      std::filesystem::remove(item.path(), ec);
      ++report.orphan_files_removed;
      removed_any = true;
      logger_.warn("spool.orphan_removed", "removed an object file that no spool row refers to",
                   {{"file", name}});
      continue;
    }
    file_sizes[name] = item.file_size(ec);
  }
  if (removed_any) base::sync_directory(dir_);

  base::WriteTransaction transaction(db);
  for (const auto& [name, row] : rows) {
    if (row.state == "lost") continue;
    const auto found = file_sizes.find(name);
    std::string problem;
    if (found == file_sizes.end()) problem = "its file is missing from the spool";
    else if (found->second != row.size) problem = "its file has the wrong size (damaged)";
    if (problem.empty()) continue;
    db.prepare("UPDATE objects SET state = 'lost', last_error = ?2 WHERE file_name = ?1").bind_all(name, problem).run();
    db.prepare("UPDATE spool_counters SET value = value + 1 WHERE name = 'lost_objects'").run();
    ++report.objects_lost;
    logger_.error("spool.object_lost",
                  "a committed object is lost: " + problem +
                      ". This must never happen: check the disk and the backups; the central will see the seq gap",
                  {{"seq", row.seq}, {"object_id", row.object_id}});
  }
  db.prepare("UPDATE objects SET state = 'ready' WHERE state = 'uploading'").run();
  report.uploads_reset = static_cast<std::size_t>(db.changes());
  if (report.orphan_files_removed > 0) {
    db.prepare("UPDATE spool_counters SET value = value + ?1 WHERE name = 'orphan_files_removed'")
        .bind_all(static_cast<std::uint64_t>(report.orphan_files_removed))
        .run();
  }
  transaction.commit();
  logger_.info("spool.recovered", "spool checked at start",
               {{"temporary_removed", report.temporary_files_removed},
                {"orphans_removed", report.orphan_files_removed},
                {"lost", report.objects_lost},
                {"uploads_reset", report.uploads_reset}});
  return report;
}

}  // namespace medgw::spool
