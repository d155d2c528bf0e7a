#pragma once
// Patient-level policy for one pass over every source, enforced before
// anything is encrypted or spooled: the opt-out list (nothing of an
// opted-out patient is sent), the collection window (policy.since) and the
// notice period (policy.notice: nothing of a patient before their
// eligibility date). Opt-out wins over eligibility.
#include <collectors/notice.hpp>
#include <collectors/optout.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace medgw::collectors {

enum class Exclusion { none, opted_out, before_since, notice_pending };

struct PatientPolicy {
  std::shared_ptr<const OptOutList> optout = std::make_shared<OptOutList>();
  std::string since;              // YYYYMMDD; empty = no window
  bool hold_unidentified = true;  // receipts that cannot be matched while opt-outs exist
  // The notice period, or nullptr when policy.notice.start is empty. Shared
  // and mutable (thread-safe): passes record the encounters they see.
  std::shared_ptr<NoticeBook> notice;

  // Whether the data of `patient_id` dated `encounter_here` (YYYYMMDD, or
  // empty) must wait for the patient's notice period.
  [[nodiscard]] bool notice_pending(std::string_view patient_id, std::string_view encounter_here = {}) const {
    return notice && !notice->eligible(patient_id, encounter_here);
  }
  // Whether DPC/UKE files need a filter at all.
  [[nodiscard]] bool filters_rows() const { return !optout->empty() || notice != nullptr; }

  [[nodiscard]] bool opted_out(std::string_view patient_id) const { return optout->by_patient(patient_id) != nullptr; }
  // A date YYYYMMDD (or a month YYYYMM) before the window.
  [[nodiscard]] bool before_since(std::string_view date) const {
    if (since.empty() || date.empty()) return false;
    return date < std::string_view(since).substr(0, date.size());
  }
  // A receipt without カルテ番号 can be checked only against entries that
  // carry a kana name and birth date.
  [[nodiscard]] bool all_matchable_by_person() const {
    for (const OptOutEntry& entry : optout->entries()) {
      if (entry.kana_name.empty()) return false;
    }
    return true;
  }
};

}  // namespace medgw::collectors
