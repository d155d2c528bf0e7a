// Collection pass: driver and the scan phase.
#include <collectors/collection_pass.hpp>

#include <base/json.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <system_error>

#include <sys/stat.h>

namespace medgw::collectors {
namespace {

constexpr std::size_t commit_every = 20'000;
constexpr std::uint64_t mass_vanish_minimum = 100;

std::string_view view_of(const std::vector<std::uint8_t>& blob) {
  return {reinterpret_cast<const char*>(blob.data()), blob.size()};
}

}  // namespace

std::uint64_t PassSummary::anomalous_files() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if (!is_notice(static_cast<Anomaly>(i))) total += anomalies[i];
  }
  return total;
}

std::string PassSummary::to_json() const {
  base::JsonWriter json;
  json.begin_object().field("source", source);
  json.field("files_seen", files_seen).field("unchanged", unchanged).field("added", added).field("modified", modified);
  json.field("renamed", renamed).field("deleted", deleted).field("metadata_only", metadata_only);
  json.field("waiting", waiting).field("deletes_deferred", deletes_deferred).field("unreadable", unreadable);
  json.field("objects", objects).field("object_bytes", object_bytes).field("content_bytes", content_bytes);
  json.key("anomalies").begin_object();
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if (anomalies[i] > 0) json.field(anomaly_name(static_cast<Anomaly>(i)), anomalies[i]);
  }
  json.end_object();
  json.key("policy").begin_object();
  json.field("excluded_optout", excluded_optout).field("excluded_since", excluded_since);
  json.field("rows_removed", rows_removed).field("receipts_removed", receipts_removed);
  json.field("held", held).field("unidentified", unidentified);
  json.end_object();
  json.key("walk").begin_object();
  json.field("directories", walk.directories).field("symlinks_skipped", walk.symlinks_skipped);
  json.field("special_skipped", walk.special_skipped).field("unreadable", walk.unreadable).field("vanished", walk.vanished);
  json.end_object();
  json.field("paused", paused);
  if (paused) json.field("pause_reason", pause_reason);
  json.field("deletes_withheld", deletes_withheld);
  json.field("duration_ms", static_cast<std::int64_t>(duration.count()));
  json.field("scan_ms", static_cast<std::int64_t>(scan_duration.count()));
  json.end_object();
  return json.take();
}

std::string PassSummary::to_text() const {
  std::string text = std::to_string(files_seen) + " files seen: " + std::to_string(added) + " new, " +
                     std::to_string(modified) + " changed, " + std::to_string(renamed) + " renamed, " +
                     std::to_string(deleted) + " deleted";
  if (metadata_only) text += ", " + std::to_string(metadata_only) + " touched";
  text += "; " + std::to_string(waiting) + " waiting to settle";
  if (deletes_deferred) text += "; " + std::to_string(deletes_deferred) + " deletions deferred";
  if (unreadable) text += "; " + std::to_string(unreadable) + " unreadable";
  text += "; " + std::to_string(anomalous_files()) + " with anomalies";
  std::array<char, 32> mib{};
  std::snprintf(mib.data(), mib.size(), "%.1f MiB", static_cast<double>(object_bytes) / (1 << 20));
  text += "; " + std::to_string(objects) + (objects == 1 ? " object, " : " objects, ") + mib.data();
  std::string kinds;
  for (std::size_t i = 0; i < anomaly_count; ++i) {
    if (anomalies[i] == 0) continue;
    kinds += (kinds.empty() ? "" : ", ") + std::string(anomaly_name(static_cast<Anomaly>(i))) + " " +
             std::to_string(anomalies[i]);
  }
  if (!kinds.empty()) text += "\n  anomalies: " + kinds;
  if (excluded_optout || excluded_since || rows_removed || receipts_removed || held || unidentified) {
    text += "\n  policy: " + std::to_string(excluded_optout) + " files of opted-out patients and " +
            std::to_string(excluded_since) + " files before policy.since not sent; " + std::to_string(rows_removed) +
            " DPC rows and " + std::to_string(receipts_removed) + " receipts of opted-out patients left out";
    if (held || unidentified) {
      text += "; " + std::to_string(held) + " files held back (" + std::to_string(unidentified) +
              " receipts without カルテ番号 that cannot be checked against the opt-out list)";
    }
  }
  if (walk.symlinks_skipped || walk.special_skipped || walk.unreadable || walk.vanished) {
    text += "\n  skipped: " + std::to_string(walk.symlinks_skipped) + " symlinks, " +
            std::to_string(walk.special_skipped) + " special files, " + std::to_string(walk.unreadable) +
            " unreadable, " + std::to_string(walk.vanished) + " vanished while scanning";
  }
  if (deletes_withheld) text += "\n  deletions withheld: most of the source vanished at once; check the share, then confirm with "
                                  "medgw collect --once --accept-deletions";
  if (paused) text += "\n  paused: " + pause_reason;
  return text;
}

CollectionPass::CollectionPass(spool::StateDb& state, spool::Spool& spool, const SourceProfile& profile,
                               CollectorSettings settings, const crypto::PatientTagger& tagger, log::Logger logger,
                               spool::Clock clock, Progress progress)
    : state_(state),
      spool_(spool),
      profile_(profile),
      settings_(std::move(settings)),
      tagger_(tagger),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : spool::Clock([] { return std::chrono::system_clock::now(); })),
      progress_(std::move(progress)) {}

bool CollectionPass::settled(std::int64_t mtime_ns, std::int64_t ctime_ns) const {
  const std::int64_t changed = std::max(mtime_ns, ctime_ns);
  return now_ns_ - changed >= std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.settle).count();
}

PassSummary CollectionPass::run() {
  const auto started = std::chrono::steady_clock::now();
  summary_ = PassSummary{};
  summary_.source = settings_.source;
  waiting_sizes_.clear();
  now_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_().time_since_epoch()).count();
  base::Database& db = state_.db();
  auto clear_scan_tables = [&] {
    base::WriteTransaction transaction(db);
    db.prepare("DELETE FROM scan_new WHERE source = ?1").bind_all(settings_.source).run();
    db.prepare("DELETE FROM scan_gone WHERE source = ?1").bind_all(settings_.source).run();
    transaction.commit();
  };
  clear_scan_tables();

  bool indexed = false;
  {
    base::Statement any = db.prepare("SELECT 1 FROM file_index WHERE source = ?1 LIMIT 1");
    any.bind_all(settings_.source);
    indexed = any.step();
  }
  try {
    if (indexed) {
      scan();
      summary_.scan_duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      process_changes();
      process_gone();
    } else {
      scan_and_process_first();
    }
  } catch (const CollectionError& error) {
    record("failed", error.what());
    throw;
  } catch (const std::system_error& error) {
    const std::string message = "source " + settings_.source + ": cannot read " + settings_.root.string() + ": " +
                                error.code().message();
    record("failed", message);
    throw CollectionError(message);
  }

  summary_.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const std::string text = summary_.to_text();
  // The line status shows: the counts, and what the policy kept back.
  std::string line = text.substr(0, text.find('\n'));
  if (const auto policy = text.find("\n  policy: "); policy != std::string::npos) {
    line += "; policy: " + text.substr(policy + 11, text.find('\n', policy + 1) - policy - 11);
  }
  record(summary_.paused ? "paused" : "finished", line);
  clear_scan_tables();
  logger_.info("collect.pass_finished", summary_.paused ? "collection pass paused" : "collection pass finished",
               {{"source", settings_.source},
                {"seen", summary_.files_seen},
                {"new", summary_.added},
                {"changed", summary_.modified},
                {"renamed", summary_.renamed},
                {"deleted", summary_.deleted},
                {"waiting", summary_.waiting},
                {"anomalies", summary_.anomalous_files()},
                {"objects", summary_.objects},
                {"bytes", summary_.object_bytes},
                {"ms", static_cast<std::int64_t>(summary_.duration.count())},
                {"scan_ms", static_cast<std::int64_t>(summary_.scan_duration.count())}});
  return summary_;
}

void CollectionPass::record(std::string_view outcome, std::string_view line) {
  base::Database& db = state_.db();
  const auto finished = std::chrono::duration_cast<std::chrono::milliseconds>(clock_().time_since_epoch()).count();
  base::WriteTransaction transaction(db);
  db.prepare("INSERT INTO source_passes (source, finished_at, outcome, line, summary) VALUES (?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT (source) DO UPDATE SET finished_at = excluded.finished_at, outcome = excluded.outcome, "
             "line = excluded.line, summary = excluded.summary")
      .bind_all(settings_.source, static_cast<std::int64_t>(finished), outcome, line, summary_.to_json())
      .run();
  transaction.commit();
}

void CollectionPass::scan() {
  base::Database& db = state_.db();
  std::error_code ec;
  if (!std::filesystem::is_directory(settings_.root, ec)) {
    throw CollectionError("source " + settings_.source + ": " + settings_.root.string() +
                          " is not a folder (is the share mounted?)");
  }
  std::uint64_t index_rows = 0;
  {
    base::Statement count = db.prepare("SELECT count(*) FROM file_index WHERE source = ?1");
    count.bind_all(settings_.source);
    if (count.step()) index_rows = static_cast<std::uint64_t>(count.column_int64(0));
  }

  base::Statement cursor =
      db.prepare("SELECT path, size, mtime_ns, ctime_ns, inode FROM file_index WHERE source = ?1 ORDER BY path");
  cursor.bind_all(settings_.source);
  base::Statement insert_new = db.prepare(
      "INSERT INTO scan_new (source, path, size, mtime_ns, ctime_ns, device, inode, modified) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  base::Statement insert_gone = db.prepare(
      "INSERT INTO scan_gone (source, path, size, mtime_ns, device, inode, sha256) "
      "SELECT source, path, size, mtime_ns, device, inode, sha256 FROM file_index WHERE source = ?1 AND path = ?2");

  std::optional<base::WriteTransaction> transaction;
  transaction.emplace(db);
  std::size_t pending_writes = 0;
  auto opened = std::chrono::steady_clock::now();
  auto wrote = [&] {
    if (++pending_writes < commit_every) return;
    transaction->commit();
    transaction.emplace(db);
    pending_writes = 0;
    opened = std::chrono::steady_clock::now();
  };
  // The walk of a large unchanged tree writes nothing for a long time: let
  // the uploader (another connection) write in between.
  auto yield_now_and_then = [&] {
    if (summary_.files_seen % 1024 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - opened < std::chrono::milliseconds(500)) return;
    transaction->commit();
    transaction.emplace(db);
    pending_writes = 0;
    opened = now;
  };

  bool cursor_valid = cursor.step();
  std::string cursor_path;
  if (cursor_valid) cursor_path = std::string(view_of(cursor.column_blob(0)));
  std::vector<std::string> unreadable_prefixes;
  std::uint64_t gone = 0;
  auto protected_path = [&](std::string_view path) {
    for (const std::string& prefix : unreadable_prefixes) {
      if (path.starts_with(prefix)) return true;
    }
    return false;
  };
  auto advance = [&] {
    cursor_valid = cursor.step();
    if (cursor_valid) cursor_path = std::string(view_of(cursor.column_blob(0)));
  };
  // Index rows before `limit` (all, when empty) are paths the walk did not see.
  auto consume_gone_until = [&](std::optional<std::string_view> limit) {
    while (cursor_valid && (!limit || std::string_view(cursor_path) < *limit)) {
      if (protected_path(cursor_path)) {
        ++summary_.unchanged;  // under a folder we could not read: unknown, not gone
      } else {
        insert_gone.bind_all(settings_.source, std::span<const std::uint8_t>(
                                                   reinterpret_cast<const std::uint8_t*>(cursor_path.data()), cursor_path.size()));
        insert_gone.run();
        insert_gone.reset();
        ++gone;
        wrote();
      }
      advance();
    }
  };

  TreeWalker walker;
  summary_.walk = walker.walk(
      settings_.root,
      [&](std::string_view path, const FileStat& stat) {
        ++summary_.files_seen;
        consume_gone_until(path);
        bool modified = false;
        if (cursor_valid && std::string_view(cursor_path) == path) {
          const bool same = cursor.column_int64(1) == static_cast<std::int64_t>(stat.size) &&
                            cursor.column_int64(2) == stat.mtime_ns && cursor.column_int64(3) == stat.ctime_ns &&
                            cursor.column_int64(4) == static_cast<std::int64_t>(stat.inode);
          advance();
          if (same) {
            ++summary_.unchanged;
            yield_now_and_then();
            if (progress_ && summary_.files_seen % 4096 == 0) progress_(summary_);
            return;
          }
          modified = true;
        }
        insert_new.bind_all(settings_.source,
                            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(path.data()), path.size()),
                            stat.size, stat.mtime_ns, stat.ctime_ns, stat.device, stat.inode, modified ? 1 : 0);
        insert_new.run();
        insert_new.reset();
        wrote();
        if (progress_ && summary_.files_seen % 4096 == 0) progress_(summary_);
      },
      [&](WalkProblem problem, std::string_view path) {
        if (problem == WalkProblem::unreadable_directory) unreadable_prefixes.push_back(std::string(path) + "/");
        if (problem == WalkProblem::unreadable_directory || problem == WalkProblem::unreadable_file) {
          logger_.warn("collect.unreadable", "cannot read part of the source; it is skipped and counted",
                       {{"source", settings_.source}, {"what", walk_problem_name(problem)}});
        }
      });
  consume_gone_until(std::nullopt);
  transaction->commit();
  transaction.reset();
  gone_left_ = gone;

  if (summary_.files_seen == 0 && index_rows > 0 && !settings_.accept_mass_deletion) {
    throw CollectionError("source " + settings_.source + ": " + settings_.root.string() + " is empty but " +
                          std::to_string(index_rows) +
                          " files were collected from it before; is the share mounted? Nothing was changed. If "
                          "the files were really removed, run: medgw collect --once --accept-deletions");
  }
  if (gone >= mass_vanish_minimum && gone * 2 > index_rows && !settings_.accept_mass_deletion) {
    summary_.deletes_withheld = true;
    logger_.error("collect.mass_vanish",
                  "more than half of the source's files vanished at once; their deletions are withheld until "
                  "confirmed: check the share, then run medgw collect --once --accept-deletions",
                  {{"source", settings_.source}, {"vanished", gone}, {"indexed", index_rows}});
  }
}

}  // namespace medgw::collectors
