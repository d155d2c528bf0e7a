#pragma once
// Collection as `medgw collect --once` and the service's collection job both
// do it, in this order:
// 1. the patient policy: the opt-out list is (re-)read when its file changed;
//    without a usable list nothing is collected (a broken list must never
//    mean "nobody opted out");
// 2. patients newly on the list are withdrawn (a `withdraw` entry spooled)
//    before anything else of theirs could be;
// 3. one pass per source pass of the plan, each a CollectionPass of the
//    pass's change feed into the spool.
// With policy.notice, step 1 also reads the notice register (as strictly as
// the list) and attaches the NoticeBook (the patients' first encounters in
// state.db); every new version of the list or the register is recorded in
// the policy audit.
#include <daemon/config/policy_loader.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <collectors/collection_pass.hpp>
#include <collectors/optout_register.hpp>

#include <base/result.hpp>

#include <chrono>
#include <memory>

namespace medgw::daemon {

struct PassOptions {
  // Send deletions withheld because most of a source vanished at once.
  bool accept_mass_deletion = false;
  // Called as the pass goes (counts only); it may throw to interrupt the
  // pass at a consistent point (the service's stop).
  collectors::CollectionPass::Progress progress;
};

class Collector {
 public:
  // `known_patient`: whether a patient ID has a folder in the sources
  // (SourcePlan::patient_lookup), for the notice register; empty = unchecked.
  Collector(Runtime& runtime, PolicyConfig policy, collectors::NoticeRegister::KnownPatient known_patient = {});

  // Step 1. Fails (code "policy_unusable", the message names the file and
  // line) when the list cannot be used; the previous list stays in force
  // when there was one, so policy() may still be set.
  [[nodiscard]] base::Status refresh_policy(std::chrono::system_clock::time_point now);
  [[nodiscard]] std::shared_ptr<const collectors::PatientPolicy> policy() const { return composed_; }
  // The notice period's book, or nullptr when policy.notice.start is empty.
  [[nodiscard]] std::shared_ptr<collectors::NoticeBook> notice() const { return book_; }

  // Step 2, when due: after the list changed, or when the last try paused
  // (the spool refused the withdraw object).
  [[nodiscard]] bool withdrawals_due() const noexcept { return withdrawals_due_; }
  [[nodiscard]] collectors::RegisterUpdate withdraw_newly_listed(const SourcePlan& plan);

  // Step 3. Throws collectors::CollectionError when the source cannot be read.
  [[nodiscard]] collectors::PassSummary pass(const SourcePass& pass, const PassOptions& options = {});

 private:
  void attach_notice();
  void send_late_rows(const SourcePass& pass, const std::shared_ptr<const collectors::PatientPolicy>& current,
                      collectors::PassSummary& summary);
  void audit_policy();
  [[nodiscard]] collectors::PassSummary pass_once(const SourcePass& pass, const PassOptions& options,
                                                  std::shared_ptr<const collectors::PatientPolicy> current);

  Runtime& runtime_;
  PolicyLoader policy_;
  bool withdrawals_due_ = true;
  std::shared_ptr<collectors::NoticeBook> book_;
  std::shared_ptr<const collectors::NoticeRegister> book_register_;  // the register book_ was made with
  std::shared_ptr<const collectors::PatientPolicy> composed_;        // the loader's policy + book_
};

}  // namespace medgw::daemon
