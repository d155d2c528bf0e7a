// medgw optout check PATIENT_ID: whether and why a patient is excluded.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <collectors/optout_erasure.hpp>

#include <crypto/patient_tag.hpp>

#include <ostream>

#include <unistd.h>

namespace medgw::daemon {
namespace {

std::string iso_date(std::string_view yyyymmdd) {
  if (yyyymmdd.size() != 8) return std::string(yyyymmdd);
  return std::string(yyyymmdd.substr(0, 4)) + "-" + std::string(yyyymmdd.substr(4, 2)) + "-" +
         std::string(yyyymmdd.substr(6, 2));
}

// Whether the patient's withdrawal reached the central: a withdraw was sent
// (their data had been delivered) and the central's erasure receipt verified.
// state.db read-only: works while the service runs.
void print_withdrawal(const Config& config, std::string_view patient_id, const std::string& who, std::ostream& out) {
  if (!std::filesystem::exists(config.state_dir / spool::StateDb::file_name)) return;
  const auto tagger = crypto::PatientTagger::load_or_create(config.state_dir / "patient-tag.key");
  spool::StateDb state =
      spool::StateDb::open(config.state_dir, spool::StateDb::Access::read_only,
                           log::Logger(std::make_shared<log::LogCore>(log::Level::error), "optout"), gateway_schema());
  const std::optional<collectors::WithdrawalState> withdrawal =
      collectors::withdrawal_of(state.db(), tagger.digest(patient_id));
  if (!withdrawal || !withdrawal->withdraw_seq) return;  // nothing of theirs had been sent: nothing to erase
  if (!withdrawal->erased_at.empty()) {
    out << who << ": withdrawn, erased at the central on " << withdrawal->erased_at.substr(0, 10)
        << " (the central's signed erasure receipt is kept in state.db)\n";
  } else {
    out << who << ": withdrawn, erasure not yet confirmed by the central (withdraw object seq "
        << *withdrawal->withdraw_seq << "; confirmed once the central has landed it: medgw upload --once or the "
        << "running service asks)\n";
  }
}

}  // namespace

int command_optout_check(Invocation& invocation) {
  std::ostream& out = *invocation.out;
  std::ostream& err = *invocation.err;
  const std::optional<Config> loaded = load_config_reporting(invocation.config_path(), config_schema(), err);
  if (!loaded) return exit_usage;
  const Config& config = *loaded;
  const std::string& patient_id = invocation.positional.front();
  // Named only on a terminal: piped into a log or a ticket, only the tag.
  std::string who;
  if (::isatty(STDOUT_FILENO) != 0) {
    who = "patient " + patient_id;
  } else {
    try {
      const auto tagger = crypto::PatientTagger::load_or_create(config.state_dir / "patient-tag.key");
      who = "patient " + tagger.tag(patient_id);
    } catch (const std::exception&) {
      who = "the patient (ID not shown off a terminal)";  // no state yet: no key for the tag
    }
  }
  PolicyLoader loader(config.policy);
  if (auto problem = loader.refresh(std::chrono::system_clock::now())) {
    err << "medgw optout check: " << *problem << "\n";
    return exit_failure;
  }
  const collectors::PatientPolicy& policy = *loader.current();
  if (config.policy.optout_file.empty()) {
    out << who << ": not excluded (no opt-out list: policy.optout_file is not set)\n";
  } else if (const collectors::OptOutEntry* entry = policy.optout->by_patient(patient_id)) {
    out << who << ": EXCLUDED: on the opt-out list (" << config.policy.optout_file.string() << " line " << entry->line;
    if (!entry->requested_on.empty()) out << ", requested " << iso_date(entry->requested_on);
    out << "); nothing of theirs is collected";
    if (!entry->dpc_id.empty()) out << ", DPC rows by their DPC ID removed";
    if (!entry->kana_name.empty()) out << ", receipts matched by name and birth date too";
    out << "\n";
    try {
      print_withdrawal(config, patient_id, who, out);
    } catch (const std::exception&) {
      out << who << ": whether a withdrawal reached the central is unknown (state.db cannot be read now)\n";
    }
  } else if (const collectors::OptOutEntry* by_dpc = policy.optout->by_dpc(patient_id)) {
    out << who << ": EXCLUDED as a DPC データ識別番号 (" << config.policy.optout_file.string() << " line "
        << by_dpc->line << "): DPC rows with it are removed\n";
  } else {
    out << who << ": not excluded (not on the opt-out list, " << policy.optout->size() << " entries)\n";
  }
  if (!policy.since.empty()) {
    out << "collection window: data dated before " << iso_date(policy.since) << " is not collected (policy.since)\n";
  }
  return exit_ok;
}

}  // namespace medgw::daemon
