// medgw notice check ID / notice report / audit verify: the notice period
// (policy.notice) and the audit chain of the policy files, read from the
// config, the register and state.db (read-only: they work while the service
// runs).
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/policy_clock.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <collectors/notice.hpp>
#include <collectors/policy_audit.hpp>

#include <crypto/patient_tag.hpp>

#include <base/output_file.hpp>

#include <ostream>
#include <set>

#include <unistd.h>

namespace medgw::daemon {
namespace {

std::string iso(std::string_view yyyymmdd) {
  if (yyyymmdd.size() != 8) return std::string(yyyymmdd);
  return std::string(yyyymmdd.substr(0, 4)) + "-" + std::string(yyyymmdd.substr(4, 2)) + "-" +
         std::string(yyyymmdd.substr(6, 2));
}

std::optional<spool::StateDb> open_state(const Config& config, std::ostream& err, std::string_view command) {
  if (!std::filesystem::exists(config.state_dir / spool::StateDb::file_name)) return std::nullopt;
  try {
    return spool::StateDb::open(config.state_dir, spool::StateDb::Access::read_only,
                                log::Logger(std::make_shared<log::LogCore>(log::Level::error), "notice"),
                                gateway_schema());
  } catch (const std::exception& error) {
    err << "medgw " << command << ": cannot read state.db: " << error.what() << "\n";
    throw;
  }
}

bool has_table(spool::StateDb& state, std::string_view table) {
  base::Statement query = state.db().prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  query.bind_all(table);
  return query.step();
}

// The policy and the notice book as the next collection would see them.
struct NoticeView {
  PolicyLoader loader;
  std::shared_ptr<collectors::NoticeBook> book;
};

std::optional<NoticeView> load_notice(const Config& config, std::ostream& err, std::string_view command) {
  collectors::NoticeRegister::KnownPatient known;
  if (!config.policy.notice.register_file.empty()) known = SourcePlan(config).patient_lookup();
  NoticeView view{PolicyLoader(config.policy, std::move(known)), nullptr};
  if (auto problem = view.loader.refresh(policy_now(std::chrono::system_clock::now()))) {
    err << "medgw " << command << ": " << *problem << "\n";
    return std::nullopt;
  }
  if (config.policy.notice.start.empty()) return view;
  view.book = std::make_shared<collectors::NoticeBook>(view.loader.notice_settings(), view.loader.notice_register());
  std::optional<spool::StateDb> state = open_state(config, err, command);
  if (state && has_table(*state, "notice_patients")) view.book->load(state->db());
  return view;
}

std::string who_of(const Config& config, const std::string& patient_id) {
  if (::isatty(STDOUT_FILENO) != 0) return "patient " + patient_id;
  try {
    return "patient " + crypto::PatientTagger::load_or_create(config.state_dir / "patient-tag.key").tag(patient_id);
  } catch (const std::exception&) {
    return "the patient (ID not shown off a terminal)";
  }
}

// Why a patient is (or is not yet) eligible, for check and report.
std::string reason_of(const collectors::Eligibility& eligibility, const Config& config, std::int64_t wait_days) {
  std::string why;
  if (!eligibility.first_encounter.empty()) {
    why = "first encounter " + iso(eligibility.first_encounter) + " (" + eligibility.encounter_where + ")";
  }
  if (eligibility.register_entry != nullptr) {
    why += (why.empty() ? "" : "; ") + std::string("notified ") + iso(eligibility.register_entry->notified_on) +
           " (" + config.policy.notice.register_file.string() + " line " +
           std::to_string(eligibility.register_entry->line) + ")";
  }
  if (why.empty()) return "no encounter since the notice began and not in the register";
  return why + ", + " + std::to_string(wait_days) + " days";
}

}  // namespace

int command_notice_check(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const Config& config = *loaded;
  const std::string& patient_id = invocation.positional.front();
  std::optional<NoticeView> view;
  try {
    view = load_notice(config, err, "notice check");
  } catch (const std::exception&) {
    return exit_failure;
  }
  if (!view) return exit_failure;
  const std::string who = who_of(config, patient_id);
  if (!view->book) {
    out << who << ": no notice period (policy.notice.start is not set): data goes subject to the opt-out list\n";
    return exit_ok;
  }
  const collectors::NoticeSettings settings = view->book->settings();
  const collectors::Eligibility eligibility = view->book->eligibility(patient_id);
  const std::string why = reason_of(eligibility, config, settings.wait_days);
  if (const collectors::OptOutEntry* entry = view->loader.current()->optout->by_patient(patient_id)) {
    out << who << ": EXCLUDED: on the opt-out list (line " << entry->line
        << "); the opt-out wins over the notice period, nothing of theirs is sent\n";
  } else if (eligibility.eligible) {
    out << who << ": ELIGIBLE since " << iso(eligibility.eligible_on) << ": " << why << "\n";
  } else if (!eligibility.eligible_on.empty()) {
    out << who << ": NOT YET ELIGIBLE: eligible on " << iso(eligibility.eligible_on) << ": " << why
        << "; their data is held until then\n";
  } else {
    out << who << ": NOT YET ELIGIBLE: " << why << "; their data is held\n";
  }
  out << "notice began " << iso(settings.start) << ", wait " << settings.wait_days << " days, today "
      << iso(settings.today) << "\n";
  return exit_ok;
}

int command_notice_report(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const Config& config = *loaded;
  const std::string target = invocation.value("output");
  if (target.empty()) {
    err << "medgw notice report: -o FILE is required (the report names patients; it is written only to a file)\n";
    return exit_usage;
  }
  std::string month = invocation.value("month");
  if (!month.empty()) {
    if (month.size() != 7 || month[4] != '-' || collectors::month_end(month.substr(0, 4) + month.substr(5, 2)).empty()) {
      err << "medgw notice report: --month must be YYYY-MM\n";
      return exit_usage;
    }
    month = month.substr(0, 4) + month.substr(5, 2);
  }
  std::optional<NoticeView> view;
  try {
    view = load_notice(config, err, "notice report");
  } catch (const std::exception&) {
    return exit_failure;
  }
  if (!view) return exit_failure;
  if (!view->book) {
    err << "medgw notice report: policy.notice.start is not set: there is no notice period to report\n";
    return exit_usage;
  }
  const collectors::OptOutList& optout = *view->loader.current()->optout;
  std::set<std::string> everyone;
  for (const auto& [id, patient] : view->book->patients()) everyone.insert(id);
  for (const auto& entry : view->book->notice_register().entries()) everyone.insert(entry.patient_id);
  std::string text = "\xEF\xBB\xBF区分 status,患者ID patient_id,提供可能日 eligible_on,理由 reason,"
                     "提供停止の求め optout_requested_on\r\n";
  std::size_t rows = 0;
  auto csv = [](std::string value) {
    if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
    std::string quoted = "\"";
    for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  const std::int64_t wait = view->book->settings().wait_days;
  for (const std::string& id : everyone) {
    if (optout.by_patient(id) != nullptr) continue;  // listed below
    const collectors::Eligibility eligibility = view->book->eligibility(id);
    if (eligibility.eligible && !month.empty() && !eligibility.eligible_on.starts_with(month)) continue;
    text += std::string(eligibility.eligible ? "eligible" : "held") + "," + csv(id) + "," +
            iso(eligibility.eligible_on) + "," + csv(reason_of(eligibility, config, wait)) + ",\r\n";
    ++rows;
  }
  for (const collectors::OptOutEntry& entry : optout.entries()) {
    if (!month.empty() && !entry.requested_on.empty() && !entry.requested_on.starts_with(month)) continue;
    text += "optout," + csv(entry.patient_id) + ",," + csv("opt-out list line " + std::to_string(entry.line)) + "," +
            iso(entry.requested_on) + "\r\n";
    ++rows;
  }
  try {
    base::AtomicFile file(target, 0600);
    file.write(base::as_bytes(std::string_view(text)));
    file.commit();
  } catch (const std::exception& error) {
    err << "medgw notice report: cannot write the report: " << error.what() << "\n";
    return exit_failure;
  }
  out << "notice report: " << rows << " rows written (mode 0600; it names patients: keep it inside the hospital)\n";
  return exit_ok;
}

int command_audit_verify(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  std::optional<spool::StateDb> state;
  try {
    state = open_state(*loaded, err, "audit verify");
  } catch (const std::exception&) {
    return exit_failure;
  }
  if (!state || !has_table(*state, "policy_audit")) {
    out << "audit: no policy file has been recorded yet\n";
    return exit_ok;
  }
  const collectors::AuditVerification result = collectors::verify_policy_audit(state->db());
  if (!result.ok()) {
    err << "medgw audit verify: BROKEN at row " << *result.first_bad_seq << ": " << result.problem
        << "; the audit of the opt-out list and the notice register cannot be trusted from there on\n";
    return exit_failure;
  }
  out << "audit: " << result.rows << " rows, the chain checks out; head " << result.head << "\n";
  return exit_ok;
}

}  // namespace medgw::daemon
