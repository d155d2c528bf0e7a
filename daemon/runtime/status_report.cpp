#include <daemon/runtime/status_report.hpp>

#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <daemon/runtime/policy_clock.hpp>
#include <daemon/runtime/runtime.hpp>

#include <collectors/source_stats.hpp>

#include <spool/spool.hpp>

#include <crypto/signing.hpp>

#include <base/time_format.hpp>

#include <set>

namespace medgw::daemon {
namespace {

std::string from_millis(std::int64_t ms) {
  return base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

}  // namespace

std::string gateway_key(const Config& config) {
  const std::filesystem::path file = config.state_dir / crypto::SigningKey::file_name;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return {};
  try {
    return crypto::SigningKey::load_or_create(file).public_key_text();
  } catch (const std::exception&) {
    return {};  // not readable by this user: status still works
  }
}

PolicyFacts policy_facts(const Config& config, spool::StateDb* state, std::chrono::system_clock::time_point now) {
  PolicyFacts facts;
  facts.unidentified = config.policy.unidentified == UnidentifiedPolicy::hold ? "hold" : "send";
  PolicyLoader loader(config.policy, config.policy.notice.register_file.empty()
                                         ? collectors::NoticeRegister::KnownPatient{}
                                         : SourcePlan(config).patient_lookup());
  facts.notice_start = config.policy.notice.start;
  facts.notice_wait_days = std::chrono::duration_cast<std::chrono::days>(config.policy.notice.wait).count();
  if (auto problem = loader.refresh(policy_now(now))) {
    facts.problem = *problem;
  } else {
    facts.listed = loader.current()->optout->size();
    const std::string& since = loader.current()->since;
    if (!since.empty()) facts.since = since.substr(0, 4) + "-" + since.substr(4, 2) + "-" + since.substr(6, 2);
    if (!facts.notice_start.empty()) {
      facts.notice_registered = loader.notice_register()->size();
      collectors::NoticeBook book(loader.notice_settings(), loader.notice_register());
      if (state != nullptr &&
          state->db().query_int64("SELECT count(*) FROM sqlite_master WHERE name = 'notice_patients'").value_or(0) > 0) {
        book.load(state->db());
      }
      std::set<std::string, std::less<>> everyone;
      for (const auto& [id, patient] : book.patients()) {
        everyone.insert(id);
        if (!patient.first_encounter.empty()) ++facts.notice_patients;
      }
      for (const auto& entry : book.notice_register().entries()) everyone.insert(entry.patient_id);
      for (const std::string& id : everyone) {
        if (loader.current()->optout->by_patient(id) != nullptr) continue;
        ++(book.eligible(id) ? facts.notice_eligible : facts.notice_pending);
      }
    }
  }
  if (state != nullptr && state->schema_version() >= 4) {
    base::Statement count = state->db().prepare("SELECT count(*) FROM optout_register WHERE withdraw_seq IS NOT NULL");
    if (count.step()) facts.withdrawn = static_cast<std::uint64_t>(count.column_int64(0));
  }
  if (state != nullptr && state->schema_version() >= 8) {  // collectors migration 5: erasure receipts
    base::Statement count = state->db().prepare("SELECT count(*) FROM optout_register WHERE erased_at IS NOT NULL");
    if (count.step()) facts.erased = static_cast<std::uint64_t>(count.column_int64(0));
  }
  return facts;
}

StateView open_state_view(const Config& config, std::chrono::system_clock::time_point now) {
  StateView view;
  if (!std::filesystem::exists(config.state_dir / spool::StateDb::file_name)) {
    view.problem = "not initialised yet (no collection has run)";
    return view;
  }
  try {
    view.state.emplace(spool::StateDb::open(config.state_dir, spool::StateDb::Access::read_only,
                                            log::Logger(std::make_shared<log::LogCore>(log::Level::error), "status"), gateway_schema()));
  } catch (const std::exception& error) {
    view.problem = error.what();
    return view;
  }
  if (view.state->schema_version() >= 2) {
    view.stats = spool::read_spool_stats(view.state->db(), config.state_dir / spool::Spool::folder_name,
                                         {config.spool.max_bytes, config.spool.min_free}, now);
  }
  return view;
}

std::string status_json(const Config& config, std::chrono::system_clock::time_point now,
                        const std::function<void(base::JsonWriter&)>& extra) {
  const spool::SpoolLimits limits{config.spool.max_bytes, config.spool.min_free};
  StateView view = open_state_view(config, now);
  std::optional<spool::StateDb>& state = view.state;
  const std::string& state_problem = view.problem;
  const std::optional<spool::SpoolStats>& stats = view.stats;
  const bool with_index = state && state->schema_version() >= 3;
  base::JsonWriter doc;
  doc.begin_object();
  doc.field("facility", config.facility.code);
  doc.field("gateway", state ? state->gateway_id() : std::string());
  doc.field("gateway_key", gateway_key(config));
  doc.field("generated", base::rfc3339_utc(now));
  doc.key("state").begin_object();
  doc.field("dir", config.state_dir.string());
  doc.field("ok", state_problem.empty());
  if (!state_problem.empty()) doc.field("problem", state_problem);
  if (state) doc.field("schema", state->schema_version());
  doc.end_object();
  doc.key("sources").begin_array();
  const SourcePlan plan(config);
  for (std::size_t source_index = 0; source_index < config.sources.size(); ++source_index) {
    const SourceConfig& source = config.sources[source_index];
    const std::vector<const SourcePass*> passes = plan.of_source(source_index);
    doc.begin_object().field("name", source.name).field("type", source.type);
    doc.field("path", passes.empty() ? std::string() : passes.front()->root.string());
    doc.key("collections").begin_array();
    for (const SourcePass* pass : passes) {
      const SourcePass& collection = *pass;
      doc.begin_object().field("label", collection.label).field("path", collection.root.string());
      if (with_index) {
        const collectors::SourceStats index = collectors::read_source_stats(state->db(), collection.label);
        doc.field("indexed_files", index.indexed_files).field("indexed_bytes", index.indexed_bytes);
        doc.field("files_with_anomalies", index.files_with_problems());
        if (collection.waiting) doc.field("waiting", collection.waiting());
        doc.key("anomalies").begin_object();
        for (std::size_t i = 0; i < collectors::anomaly_count; ++i) {
          if (index.anomalies[i] > 0) doc.field(collectors::anomaly_name(static_cast<collectors::Anomaly>(i)), index.anomalies[i]);
        }
        doc.end_object();
        doc.key("last_pass");
        if (index.last_pass_ms) {
          doc.begin_object().field("at", from_millis(*index.last_pass_ms)).field("outcome", index.last_outcome);
          doc.field("line", index.last_line).key("summary").raw(index.last_pass_json).end_object();
        } else {
          doc.null();
        }
      }
      doc.end_object();
    }
    doc.end_array();
    doc.end_object();
  }
  doc.end_array();
  doc.key("policy").begin_object();
  doc.field("optout_file", config.policy.optout_file.string());
  const PolicyFacts facts = policy_facts(config, state ? &*state : nullptr, now);
  if (facts.listed) doc.field("listed", *facts.listed);
  if (!facts.problem.empty()) doc.field("problem", facts.problem);
  doc.field("withdrawn", facts.withdrawn).field("erased_at_central", facts.erased).field("since", facts.since).field("unidentified", facts.unidentified);
  if (!facts.notice_start.empty()) {
    doc.key("notice").begin_object();
    doc.field("start", facts.notice_start).field("wait_days", facts.notice_wait_days);
    if (facts.notice_registered) doc.field("registered", static_cast<std::uint64_t>(*facts.notice_registered));
    doc.field("patients_seen", facts.notice_patients).field("eligible", facts.notice_eligible);
    doc.field("pending", facts.notice_pending);
    doc.end_object();
  }
  doc.end_object();
  if (stats) {
    doc.key("spool").begin_object();
    doc.field("ready_objects", stats->ready_objects).field("ready_bytes", stats->ready_bytes);
    doc.field("uploading_objects", stats->uploading_objects).field("rejected_objects", stats->rejected_objects);
    doc.field("unconfirmed_objects", stats->unconfirmed_objects);
    doc.field("lost_objects", stats->lost_objects).field("spooled_bytes", stats->spooled_bytes);
    doc.key("oldest_ready_age_seconds");
    if (stats->oldest_ready_age) doc.value(static_cast<std::int64_t>(stats->oldest_ready_age->count() / 1000));
    else doc.null();
    doc.field("capacity", spool::capacity_name(stats->capacity));
    doc.field("max_bytes", limits.max_bytes).field("min_free", limits.min_free).field("free_bytes", stats->free_bytes);
    doc.end_object();
    doc.key("delivered").begin_object();
    doc.field("objects", stats->delivered_objects).field("bytes", stats->delivered_bytes);
    doc.key("last");
    if (stats->last_delivered_ms) doc.value(from_millis(*stats->last_delivered_ms));
    else doc.null();
    doc.end_object();
  }
  if (extra) extra(doc);
  doc.end_object();
  return doc.text();
}

}  // namespace medgw::daemon
