// The opt-out filters as spool::ContentFilter: the judges that say whose
// rows and receipts stay out (the opt-out list, the notice period, a "late
// rows" copy) around the shared streaming filters of claims/.
#include <collectors/optout_filter.hpp>

#include <claims/dpc_rows.hpp>
#include <claims/receipts.hpp>

namespace medgw::collectors {
namespace {

// Runs a claims filter for a judge it owns, and keeps FilterResult in step.
template <class Judge>
class JudgedFilter final : public OptOutFilter {
 public:
  template <class MakeFilter>
  JudgedFilter(Judge judge, MakeFilter make) : judge_(std::move(judge)), filter_(make(judge_)) {}

  void feed(std::string_view bytes, std::string& out) override {
    filter_->feed(bytes, out);
    sync();
  }
  void finish(std::string& out) override {
    filter_->finish(out);
    sync();
  }
  [[nodiscard]] const FilterResult& result() const noexcept override { return judge_.result; }

 private:
  void sync() {
    const claims::FilterCounts& counts = filter_->counts();
    if constexpr (Judge::receipts) {
      judge_.result.receipts_removed = counts.removed;
    } else {
      judge_.result.rows_removed = counts.removed;
    }
    judge_.result.notice_held = counts.held;
  }

  Judge judge_;  // declared first: the filter holds a reference to it
  std::unique_ptr<claims::StreamFilter> filter_;
};

// --- DPC -----------------------------------------------------------------------

class DpcPolicyJudge final : public claims::DpcJudge {
 public:
  static constexpr bool receipts = false;
  DpcPolicyJudge(std::shared_ptr<const PatientPolicy> policy, std::string month, OnlyPatients only)
      : policy_(std::move(policy)), month_(std::move(month)), encounter_(month_end(month_)), only_(std::move(only)) {
    result.dropped_rows = dropped_rows_;
  }
  [[nodiscard]] claims::DroppedRanges* dropped_rows() const { return dropped_rows_.get(); }

  [[nodiscard]] bool removes_nobody() const override { return policy_->optout->empty(); }
  [[nodiscard]] bool removes(std::string_view dpc_id) override { return policy_->optout->by_dpc(dpc_id) != nullptr; }

  // A "late rows" copy keeps only its patients' rows; with policy.notice a
  // row waits while its patient's notice period has not passed (the file's
  // month counts as an encounter on its last day; a file of unknown kind
  // keeps no record: its patient is unknown). Eligibility is by the
  // データ識別番号 as an ID of its own: the rows of a DPC number count as its
  // encounters (where the hospital's DPC numbers are its patient IDs, the
  // SS-MIX2 encounters and the register count too).
  [[nodiscard]] bool holds(std::optional<std::string_view> dpc_id) override {
    if (only_) return !dpc_id || !only_->contains(*dpc_id);
    if (!policy_->notice) return false;
    if (!dpc_id || dpc_id->empty()) return true;
    const std::string_view id = *dpc_id;
    if (!encounter_.empty()) policy_->notice->record(Encounter{std::string(id), encounter_, "dpc " + month_});
    if (!policy_->notice_pending(id, encounter_)) return false;
    result.notice_held_ids.emplace(id);
    return true;
  }

  FilterResult result;

 private:
  std::shared_ptr<const PatientPolicy> policy_;
  std::string month_;
  std::string encounter_;
  OnlyPatients only_;
  std::shared_ptr<claims::DroppedRanges> dropped_rows_ = std::make_shared<claims::DroppedRanges>();
};

class DroppedRowsFilter final : public spool::ContentFilter {
 public:
  explicit DroppedRowsFilter(std::shared_ptr<const claims::DroppedRanges> dropped_rows)
      : filter_(claims::make_dropped_ranges_filter(std::move(dropped_rows))) {}
  void feed(std::string_view bytes, std::string& out) override { filter_->feed(bytes, out); }
  void finish(std::string& out) override { filter_->finish(out); }

 private:
  std::unique_ptr<claims::StreamFilter> filter_;
};

// --- UKE -----------------------------------------------------------------------

class ReceiptPolicyJudge final : public claims::ReceiptJudge {
 public:
  static constexpr bool receipts = true;
  ReceiptPolicyJudge(std::shared_ptr<const PatientPolicy> policy, OnlyPatients only)
      : policy_(std::move(policy)), only_(std::move(only)) {}

  [[nodiscard]] claims::ReceiptVerdict judge(const claims::ReceiptHead& head) override {
    if (opted_out(head)) return claims::ReceiptVerdict::remove;
    const bool held = only_ ? !only_->contains(head.chart()) : policy_->notice && notice_pending(head);
    return held ? claims::ReceiptVerdict::hold : claims::ReceiptVerdict::keep;
  }

  FilterResult result;

 private:
  // A receipt names its patient by カルテ番号 (RE 14) and shows an encounter
  // in its 診療年月 (RE 4, 西暦 YYYYMM or 和暦 GYYMM); without a カルテ番号
  // there is no patient to check, and the receipt waits.
  [[nodiscard]] bool notice_pending(const claims::ReceiptHead& head) {
    const std::string_view chart = head.chart();
    if (chart.empty()) return true;
    std::string month(head.month());
    if (month.size() == 5) month = claims::receipt_birth_date(month + "01").substr(0, 6);  // 和暦 GYYMM
    const std::string encounter = month_end(month);
    if (!encounter.empty()) policy_->notice->record(Encounter{std::string(chart), encounter, "receipt " + month});
    if (!policy_->notice_pending(chart, encounter)) return false;
    result.notice_held_ids.emplace(chart);
    return true;
  }

  [[nodiscard]] bool opted_out(const claims::ReceiptHead& head) {
    const OptOutList& list = *policy_->optout;
    if (list.empty()) return false;
    const std::string_view chart = head.chart();  // カルテ番号等
    if (!chart.empty() && list.by_patient(chart) != nullptr) return true;
    // By name and birth date too, even when the chart number is there: a
    // listed person is never sent because the chart number was mistyped.
    const std::string kana = head.kana();
    const std::string birth = head.birth_date();
    if (!kana.empty() && !birth.empty() && list.by_person(kana, birth) != nullptr) return true;
    if (!chart.empty()) return false;
    // No chart number: only a match by person can clear the receipt, and only
    // when every listed patient can be matched that way.
    if (kana.empty() || birth.empty() || !policy_->all_matchable_by_person()) {
      ++result.unidentified;
      if (policy_->hold_unidentified) result.hold = true;
    }
    return false;
  }

  std::shared_ptr<const PatientPolicy> policy_;
  OnlyPatients only_;
};

}  // namespace

std::unique_ptr<OptOutFilter> make_dpc_filter(std::shared_ptr<const PatientPolicy> policy, std::size_t id_column,
                                              std::string month, OnlyPatients only) {
  return std::make_unique<JudgedFilter<DpcPolicyJudge>>(
      DpcPolicyJudge(std::move(policy), std::move(month), std::move(only)),
      [id_column](DpcPolicyJudge& judge) {
        return claims::make_dpc_row_filter(id_column, judge, judge.dropped_rows());
      });
}

std::unique_ptr<spool::ContentFilter> make_dropped_rows_filter(std::shared_ptr<const claims::DroppedRanges> dropped_rows) {
  return std::make_unique<DroppedRowsFilter>(std::move(dropped_rows));
}

std::unique_ptr<OptOutFilter> make_uke_filter(std::shared_ptr<const PatientPolicy> policy, OnlyPatients only) {
  return std::make_unique<JudgedFilter<ReceiptPolicyJudge>>(
      ReceiptPolicyJudge(std::move(policy), std::move(only)),
      [](ReceiptPolicyJudge& judge) { return claims::make_receipt_filter(judge); });
}

}  // namespace medgw::collectors
