// medgw status [--json]: works with or without the daemon running (reads
// state.db without the writer lock).
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/status_report.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <collectors/source_stats.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <crypto/signing.hpp>

#include <base/human_size.hpp>
#include <base/json.hpp>
#include <base/time_format.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <ostream>

namespace medgw::daemon {
namespace {

std::string human_age(std::chrono::milliseconds age) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(age).count();
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

std::string from_millis(std::int64_t ms) {
  return base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

std::string policy_line(const Config& config, spool::StateDb* state, std::chrono::system_clock::time_point now) {
  const PolicyFacts facts = policy_facts(config, state, now);
  std::string line;
  if (config.policy.optout_file.empty()) {
    line = "no opt-out list (policy.optout_file not set)";
  } else if (facts.listed) {
    line = "opt-out list " + config.policy.optout_file.string() + ": " + std::to_string(*facts.listed) +
           " patients, " + std::to_string(facts.withdrawn) + " withdrawn after data was sent";
    if (facts.withdrawn > 0) line += " (" + std::to_string(facts.erased) + " confirmed erased at the central)";
  } else {
    line = "OPT-OUT LIST UNUSABLE: " + facts.problem;
  }
  line += facts.since.empty() ? "; no collection window" : "; collecting data from " + facts.since;
  line += "; unidentified receipts: " + facts.unidentified;
  if (!facts.notice_start.empty() && facts.problem.empty()) {
    line += "\n  notice period from " + facts.notice_start + ", wait " + std::to_string(facts.notice_wait_days) +
            " days: " + std::to_string(facts.notice_eligible) + " patients (or DPC numbers) eligible, " +
            std::to_string(facts.notice_pending) + " not yet (their data is held); " +
            std::to_string(facts.notice_patients) + " with an encounter since the start, " +
            std::to_string(facts.notice_registered.value_or(0)) + " in the register";
  }
  return line;
}

}  // namespace

int command_status(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const Config& config = *loaded;
  const spool::SpoolLimits limits{config.spool.max_bytes, config.spool.min_free};
  const bool json = invocation.has("json");
  const auto now = std::chrono::system_clock::now();
  if (json) {
    out << status_json(config, now) << "\n";
    return exit_ok;
  }

  StateView view = open_state_view(config, now);
  std::optional<spool::StateDb>& state = view.state;
  const std::string& state_problem = view.problem;
  const std::optional<spool::SpoolStats>& stats = view.stats;

  const bool with_index = state && state->schema_version() >= 3;


  out << "medgw status: facility " << config.facility.code;
  if (!config.facility.name.empty()) out << " (" << config.facility.name << ")";
  out << "\n";
  out << "  state:     " << config.state_dir.string();
  if (!state_problem.empty()) {
    out << ": " << state_problem << "\n";
  } else {
    out << " (schema " << state->schema_version() << ", gateway " << state->gateway_id() << ")\n";
    if (const std::string key = gateway_key(config); !key.empty()) {
      out << "  signing:   " << key << " (list it under the facility's gateways in the central's receiver.yaml)\n";
    }
  }
  const SourcePlan plan(config);
  for (std::size_t source_index = 0; source_index < config.sources.size(); ++source_index) {
    const SourceConfig& source = config.sources[source_index];
    const std::vector<const SourcePass*> passes = plan.of_source(source_index);
    out << "  source:    " << source.name << " (" << source.type << ")";
    if (!passes.empty() && !passes.front()->root.empty()) out << " " << passes.front()->root.string();
    out << "\n";
    for (const SourcePass* pass : passes) {
      const SourcePass& collection = *pass;
      if (!with_index) continue;
      const collectors::SourceStats index = collectors::read_source_stats(state->db(), collection.label);
      const std::string indent = "             ";
      out << indent << collection.label << ": " << index.indexed_files << " files indexed ("
          << base::human_size(index.indexed_bytes) << "), " << index.files_with_problems() << " with anomalies";
      std::string kinds;
      for (std::size_t i = 0; i < collectors::anomaly_count; ++i) {
        if (index.anomalies[i] == 0) continue;
        kinds += (kinds.empty() ? "" : ", ") +
                 std::string(collectors::anomaly_name(static_cast<collectors::Anomaly>(i))) + " " +
                 std::to_string(index.anomalies[i]);
      }
      if (!kinds.empty()) out << " (" << kinds << ")";
      if (index.files_with_problems() > 0) out << " - needs the hospital's attention";
      out << "\n";
      if (collection.waiting) out << indent << "  " << collection.waiting() << "\n";
      if (index.last_pass_ms) {
        const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
            now - std::chrono::system_clock::time_point(std::chrono::milliseconds(*index.last_pass_ms)));
        out << indent << "  last pass " << index.last_outcome << " " << human_age(age) << " ago: " << index.last_line
            << "\n";
      } else {
        out << indent << "  no pass yet\n";
      }
    }
  }
  out << "  policy:    " << policy_line(config, state ? &*state : nullptr, now) << "\n";
  if (stats) {
    out << "  spool:     " << stats->ready_objects << " ready (" << base::human_size(stats->ready_bytes) << ")";
    if (stats->oldest_ready_age) out << ", oldest " << human_age(*stats->oldest_ready_age);
    out << "; " << stats->uploading_objects << " uploading; " << stats->rejected_objects << " rejected";
    if (stats->unconfirmed_objects > 0) {
      out << "; " << stats->unconfirmed_objects
          << " UNCONFIRMED (the central's receipt did not check out: tell its operators; then medgw spool "
             "release|resend SEQ)";
    }
    if (stats->lost_objects > 0) out << "; " << stats->lost_objects << " LOST (see the log: spool.object_lost)";
    out << "\n";
    out << "  capacity:  " << spool::capacity_name(stats->capacity) << " (" << base::human_size(stats->spooled_bytes) << " of "
        << base::human_size(limits.max_bytes) << "; " << base::human_size(stats->free_bytes) << " free, keeping "
        << base::human_size(limits.min_free) << ")\n";
    out << "  delivered: " << stats->delivered_objects << " objects, " << base::human_size(stats->delivered_bytes);
    if (stats->last_delivered_ms) out << ", last " << from_millis(*stats->last_delivered_ms);
    out << "\n";
  }
  return exit_ok;
}

}  // namespace medgw::daemon
