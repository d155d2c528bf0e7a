// The collection job's health, metrics and status (counts only).
#include <daemon/service/collector_job.hpp>

#include <algorithm>

namespace medgw::daemon {
namespace {

double unix_seconds(std::int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// Whether a spool-capacity reason is listed already (one is enough).
bool capacity_listed(const std::vector<std::string>& reasons) {
  return std::any_of(reasons.begin(), reasons.end(), [](const std::string& reason) {
    return reason.starts_with("spool full") || reason.starts_with("disk low");
  });
}

}  // namespace

void CollectorJob::health(std::vector<std::string>& reasons) const {
  const std::lock_guard lock(mutex_);
  if (!policy_problem_.empty()) reasons.push_back("opt-out list or notice register unusable: " + policy_problem_);
  for (const auto& [label, state] : passes_) {
    if (!state.problem.empty()) {
      reasons.push_back(state.problem.starts_with("source ") ? state.problem : "source " + label + ": " + state.problem);
    }
    if (state.deletes_withheld) {
      reasons.push_back("source " + label + ": most of its files vanished at once; the deletions are not sent "
                        "(an unmounted share?). If they were really deleted, run medgw collect --once "
                        "--accept-deletions with the service stopped");
    }
  }
  // The spool refused the last pass of a source (an object would not fit):
  // back-pressure, even while spooled bytes are below the limit.
  if (capacity_listed(reasons)) return;
  for (const auto& [label, state] : passes_) {
    if (state.pause_reason.empty()) continue;
    reasons.push_back("collection paused (" + label + "): " + state.pause_reason);
    break;
  }
}

void CollectorJob::status(base::JsonWriter& doc) const {
  const std::lock_guard lock(mutex_);
  doc.key("collections").begin_array();
  for (const auto& [label, state] : passes_) {
    doc.begin_object().field("label", label).field("running", state.running);
    const auto due = std::chrono::duration_cast<std::chrono::seconds>(state.due - SteadyClock::now()).count();
    doc.field("next_pass_in_seconds", static_cast<std::int64_t>(std::max<std::int64_t>(due, 0)));
    if (!state.problem.empty()) doc.field("problem", state.problem);
    if (!state.pause_reason.empty()) doc.field("paused", state.pause_reason);
    doc.end_object();
  }
  doc.end_array();
}

void CollectorJob::metrics(PrometheusText& m) const {
  const std::lock_guard lock(mutex_);
  auto per_source = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    m.family(name, type, help);
    for (const auto& [label, state] : passes_) m.sample(value(state), {{"source", label}});
  };
  per_source("medgw_source_files", "gauge", "Files seen by the last collection pass.",
             [](const PassState& s) { return s.files_last_pass; });
  per_source("medgw_source_up", "gauge", "0 when the source could not be read by the last pass.",
             [](const PassState& s) { return std::int64_t{s.problem.empty() ? 1 : 0}; });
  m.family("medgw_collection_passes_total", "counter", "Collection passes by outcome.");
  for (const auto& [label, state] : passes_) {
    m.sample(state.passes_finished, {{"source", label}, {"outcome", "finished"}});
    m.sample(state.passes_paused, {{"source", label}, {"outcome", "paused"}});
    m.sample(state.passes_failed, {{"source", label}, {"outcome", "failed"}});
  }
  m.family("medgw_files_collected_total", "counter", "Source file changes sent, by kind of change.");
  for (const auto& [label, state] : passes_) {
    m.sample(state.added, {{"source", label}, {"change", "new"}});
    m.sample(state.modified, {{"source", label}, {"change", "modified"}});
    m.sample(state.renamed, {{"source", label}, {"change", "renamed"}});
    m.sample(state.deleted, {{"source", label}, {"change", "deleted"}});
  }
  m.family("medgw_files_not_sent_total", "counter", "Files not sent, by reason (policy, unreadable).");
  for (const auto& [label, state] : passes_) {
    m.sample(state.excluded_optout, {{"source", label}, {"reason", "optout"}});
    m.sample(state.excluded_since, {{"source", label}, {"reason", "before_since"}});
    m.sample(state.held, {{"source", label}, {"reason", "held_unidentified"}});
    m.sample(state.held_notice, {{"source", label}, {"reason", "notice_pending"}});
    m.sample(state.unreadable, {{"source", label}, {"reason", "unreadable"}});
  }
  m.family("medgw_notice_rows_held_total", "counter",
           "DPC rows and receipts left out of the copies sent: their patients' notice period had not passed.");
  for (const auto& [label, state] : passes_) m.sample(state.rows_held_notice, {{"source", label}});
  m.family("medgw_anomalies_total", "counter", "Files sent with an anomaly, by kind (the hospital should look).");
  for (const auto& [label, state] : passes_) {
    for (std::size_t i = 0; i < state.anomalies.size(); ++i) {
      m.sample(state.anomalies[i], {{"source", label}, {"kind", collectors::anomaly_name(static_cast<collectors::Anomaly>(i))}});
    }
  }
  per_source("medgw_objects_spooled_total", "counter", "Objects written to the spool by collection.",
             [](const PassState& s) { return s.objects; });
  per_source("medgw_spooled_bytes_total", "counter", "Bytes of the objects written to the spool.",
             [](const PassState& s) { return s.object_bytes; });
  per_source("medgw_last_scan_success_timestamp_seconds", "gauge",
             "When the last complete collection pass ended (Unix time; 0 = none yet).",
             [](const PassState& s) { return unix_seconds(s.last_success_ms); });
  per_source("medgw_last_scan_duration_seconds", "gauge", "How long the last collection pass took.",
             [](const PassState& s) { return s.last_duration_seconds; });
}

}  // namespace medgw::daemon
