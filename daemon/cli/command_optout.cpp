// medgw optout check PATIENT_ID: whether and why a patient is excluded.
#include <daemon/cli/commands.hpp>
#include <daemon/config/config_loader.hpp>
#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

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
