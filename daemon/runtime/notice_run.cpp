// The Collector's notice period and policy audit (collection_run.hpp): the
// NoticeBook attached to the policy in force, and a policy_audit row for each
// new version of the opt-out list and the notice register.
#include <daemon/runtime/collection_run.hpp>

#include <collectors/notice_late_rows.hpp>
#include <collectors/policy_audit.hpp>

namespace medgw::daemon {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Collector::attach_notice() {
  const collectors::NoticeSettings settings = policy_.notice_settings();
  if (settings.start.empty()) {
    book_.reset();
    book_register_.reset();
    composed_ = policy_.current();
    return;
  }
  const std::shared_ptr<const collectors::NoticeRegister> notice_register = policy_.notice_register();
  if (!book_ || book_register_ != notice_register || book_->settings().start != settings.start ||
      book_->settings().wait_days != settings.wait_days) {
    if (book_) book_->save(runtime_.state->db());
    book_ = std::make_shared<collectors::NoticeBook>(settings, notice_register);
    book_->load(runtime_.state->db());
    book_register_ = notice_register;
  }
  book_->set_today(settings.today);
  auto composed = std::make_shared<collectors::PatientPolicy>(*policy_.current());
  composed->notice = book_;
  composed_ = std::move(composed);
}

void Collector::send_late_rows(const SourcePass& pass, const std::shared_ptr<const collectors::PatientPolicy>& current,
                               collectors::PassSummary& summary) {
  if (!pass.profile || pass.root.empty() || summary.paused) return;
  log::Logger logger = runtime_.logger.named("collect");
  const collectors::LateRowsOutcome late = collectors::send_late_rows(*runtime_.state, *runtime_.spool, pass.label,
                                                                      pass.root, *pass.profile, current, logger);
  summary.late_rows_files += late.files;
  summary.objects += late.objects;
  summary.object_bytes += late.object_bytes;
  if (late.paused) {
    summary.paused = true;
    summary.pause_reason = late.pause_reason;
  }
}

void Collector::audit_policy() {
  base::Database& db = runtime_.state->db();
  const crypto::PatientTagger& tagger = *runtime_.tagger;
  log::Logger logger = runtime_.logger.named("policy");
  const std::int64_t now = unix_ms();
  auto note = [&](std::string_view subject, std::optional<std::int64_t> seq, std::size_t entries) {
    if (!seq) return;
    logger.info("policy.audited", "a new version of a policy file was recorded in the audit chain",
                {{"subject", std::string(subject)}, {"audit_seq", *seq},
                 {"entries", static_cast<std::uint64_t>(entries)}});
  };
  if (!runtime_.config.policy.optout_file.empty() && !policy_.optout_sha256().empty()) {
    collectors::AuditedEntries entries;
    for (const collectors::OptOutEntry& entry : policy_.current()->optout->entries()) {
      entries[tagger.digest(entry.patient_id)] = collectors::audit_entry_hash(
          {entry.patient_id, entry.dpc_id, entry.kana_name, entry.birth_date, entry.requested_on});
    }
    note(collectors::audit_optout_list,
         collectors::record_policy_version(db, collectors::audit_optout_list, policy_.optout_sha256(), entries, now),
         entries.size());
  }
  if (book_ && !runtime_.config.policy.notice.register_file.empty() && !policy_.register_sha256().empty()) {
    collectors::AuditedEntries entries;
    for (const collectors::NoticeRegisterEntry& entry : book_->notice_register().entries()) {
      entries[tagger.digest(entry.patient_id)] = collectors::audit_entry_hash({entry.patient_id, entry.notified_on});
    }
    note(collectors::audit_notice_register,
         collectors::record_policy_version(db, collectors::audit_notice_register, policy_.register_sha256(), entries,
                                           now),
         entries.size());
  }
}

}  // namespace medgw::daemon
