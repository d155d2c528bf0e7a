// Collection pass: the driver (feed -> sink -> record) and the summary.
#include <collectors/collection_pass.hpp>

#include <collectors/tree_feed.hpp>

#include <base/json.hpp>

#include <array>
#include <cstdio>

namespace medgw::collectors {

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
  json.field("held_notice", held_notice).field("rows_held_notice", rows_held_notice);
  json.field("late_rows_files", late_rows_files);
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
            " records (DPC rows, FHIR resources) and " + std::to_string(receipts_removed) +
            " receipts of opted-out patients left out";
    if (held || unidentified) {
      text += "; " + std::to_string(held) + " files held back (" + std::to_string(unidentified) +
              " records whose patient cannot be told: receipts without カルテ番号, FHIR resources of unknown patients)";
    }
  }
  if (held_notice || rows_held_notice) {
    text += "\n  notice: " + std::to_string(held_notice) + " files held and " + std::to_string(rows_held_notice) +
            " records (DPC rows, receipts, FHIR resources) left out: their patients' notice period (policy.notice) has "
            "not passed";
  }
  if (late_rows_files) {
    text += "\n  notice: " + std::to_string(late_rows_files) +
            " late-rows copies sent (rows held earlier, their patients now eligible)";
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

CollectionPass::CollectionPass(spool::StateDb& state, spool::Spool& spool, ChangeFeed& feed, CollectorSettings settings,
                               const crypto::PatientTagger& tagger, log::Logger logger, spool::Clock clock,
                               Progress progress)
    : state_(state),
      spool_(spool),
      feed_(feed),
      settings_(std::move(settings)),
      tagger_(tagger),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : spool::Clock([] { return std::chrono::system_clock::now(); })),
      progress_(std::move(progress)) {}

CollectionPass::CollectionPass(spool::StateDb& state, spool::Spool& spool, const SourceProfile& profile,
                               CollectorSettings settings, const crypto::PatientTagger& tagger, log::Logger logger,
                               spool::Clock clock, Progress progress)
    : state_(state),
      spool_(spool),
      owned_feed_(std::make_unique<TreeFeed>(state, profile, settings, logger, clock, progress)),
      feed_(*owned_feed_),
      settings_(std::move(settings)),
      tagger_(tagger),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : spool::Clock([] { return std::chrono::system_clock::now(); })),
      progress_(std::move(progress)) {}

CollectionPass::~CollectionPass() = default;

PassSummary CollectionPass::run() {
  const auto started = std::chrono::steady_clock::now();
  summary_ = PassSummary{};
  summary_.source = settings_.source;
  SpoolSink sink(state_, spool_, settings_.source, settings_.limits(), settings_.policy, feed_.journal(), summary_,
                 tagger_, logger_, progress_);
  try {
    feed_.collect(sink, summary_);
    sink.flush();
  } catch (const SinkPaused&) {
    logger_.warn("collect.paused", "the spool refused new objects; collection resumes when there is room",
                 {{"source", settings_.source}, {"reason", summary_.pause_reason}});
  } catch (const CollectionError& error) {
    record("failed", error.what());
    throw;
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

}  // namespace medgw::collectors
