#include <daemon/runtime/collection_run.hpp>

namespace medgw::daemon {

Collector::Collector(Runtime& runtime, PolicyConfig policy) : runtime_(runtime), policy_(std::move(policy)) {}

base::Status Collector::refresh_policy(std::chrono::system_clock::time_point now) {
  const std::optional<std::string> problem = policy_.refresh(now);
  if (policy_.changed()) withdrawals_due_ = true;
  if (problem) return base::fail("policy_unusable", *problem);
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
