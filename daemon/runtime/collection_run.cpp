#include <daemon/runtime/collection_run.hpp>
#include <daemon/runtime/policy_clock.hpp>

namespace medgw::daemon {

Collector::Collector(Runtime& runtime, PolicyConfig policy, collectors::NoticeRegister::KnownPatient known_patient)
    : runtime_(runtime), policy_(std::move(policy), std::move(known_patient)) {}

base::Status Collector::refresh_policy(std::chrono::system_clock::time_point now) {
  if (const std::optional<std::string> today = test_today()) {
    runtime_.logger.named("policy").warn("policy.test_clock",
                                         "MEDGW_TEST_TODAY sets the policy's date (a test build only)",
                                         {{"today", *today}});
  }
  const std::optional<std::string> problem = policy_.refresh(policy_now(now));
  if (policy_.changed()) withdrawals_due_ = true;
  // The policy composed last stays in force (none before the first usable one).
  if (problem) return base::fail("policy_unusable", *problem);
  attach_notice();
  audit_policy();
  return {};
}

collectors::RegisterUpdate Collector::withdraw_newly_listed(const SourcePlan& plan) {
  const std::shared_ptr<const collectors::PatientPolicy> current = policy();
  if (!current) throw std::logic_error("withdraw_newly_listed before a usable opt-out list");
  log::Logger logger = runtime_.logger.named("policy");
  const std::vector<collectors::PatientSource> sources = plan.patient_sources();
  collectors::RegisterUpdate update = collectors::update_optout_register(
      *runtime_.state, *runtime_.spool, *current, sources, *runtime_.tagger, logger, spool::Clock{});
  withdrawals_due_ = update.paused;
  return update;
}

collectors::PassSummary Collector::pass(const SourcePass& pass, const PassOptions& options) {
  const std::shared_ptr<const collectors::PatientPolicy> current = policy();
  if (!current) throw std::logic_error("a collection pass before a usable opt-out list");
  if (!book_) return pass_once(pass, options, current);
  (void)book_->take_newly_eligible();
  collectors::PassSummary summary = pass_once(pass, options, current);
  book_->save(runtime_.state->db());
  send_late_rows(pass, current, summary);
  // A patient's first encounter may come later in the pass than data of theirs
  // that was held for it (the "-" folder sorts before the dated ones): once,
  // the pass runs again, and what was held for a now eligible patient goes.
  if (book_->take_newly_eligible() && summary.held_notice > 0 && !summary.paused) {
    collectors::PassSummary again = pass_once(pass, options, current);
    book_->save(runtime_.state->db());
    again.added += summary.added;
    again.modified += summary.modified;
    again.renamed += summary.renamed;
    again.deleted += summary.deleted;
    again.objects += summary.objects;
    again.object_bytes += summary.object_bytes;
    again.content_bytes += summary.content_bytes;
    again.rows_removed += summary.rows_removed;
    again.late_rows_files += summary.late_rows_files;
    again.receipts_removed += summary.receipts_removed;
    for (std::size_t i = 0; i < again.anomalies.size(); ++i) again.anomalies[i] += summary.anomalies[i];
    return again;
  }
  return summary;
}

collectors::PassSummary Collector::pass_once(const SourcePass& pass, const PassOptions& options,
                                             std::shared_ptr<const collectors::PatientPolicy> current) {
  collectors::CollectorSettings settings{pass.label, pass.root, pass.settle};
  settings.accept_mass_deletion = options.accept_mass_deletion;
  settings.policy = current;
  const log::Logger logger = runtime_.logger.named("collect");
  const FeedContext context{*runtime_.state, settings, logger, spool::Clock{}, options.progress};
  const std::unique_ptr<collectors::ChangeFeed> feed = pass.make_feed(context);
  collectors::CollectionPass collection(*runtime_.state, *runtime_.spool, *feed, settings, *runtime_.tagger, logger,
                                        spool::Clock{}, options.progress);
  return collection.run();
}

}  // namespace medgw::daemon
