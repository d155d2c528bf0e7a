#pragma once
// Notice-based provision (次世代医療基盤法 本人通知, issue 19): a patient's data
// leaves only once their notice period has passed. A patient is eligible from
// the earlier of
//   (first encounter on or after policy.notice.start) + wait, and
//   (notified_on in the hospital's register) + wait.
//
// - NoticeRegister: the hospital's CSV of patients notified another way
//   (patient_id,notified_on), parsed like the opt-out list: errors name the
//   line, never a value.
// - NoticeBook: the eligibility rules over the register and the encounters
//   the collectors have seen (state.db `notice_patients`, collectors
//   migration 3). Thread-safe: the read-ahead threads of a pass ask it while
//   DPC/UKE filters record the encounters their rows show.
//
// Dates are YYYYMMDD strings throughout (local calendar dates).
#include <base/sqlite.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

struct NoticeRegisterEntry {
  std::string patient_id;
  std::string notified_on;  // YYYYMMDD
  std::size_t line = 0;
};

class NoticeRegisterError : public std::runtime_error {
 public:
  NoticeRegisterError(std::size_t line, const std::string& message) : std::runtime_error(message), line_(line) {}
  [[nodiscard]] std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

class NoticeRegister {
 public:
  // Whether a patient ID is one the hospital's storage knows (an unknown ID
  // is a typo: its patient would silently never count as notified).
  using KnownPatient = std::function<bool(std::string_view patient_id)>;

  NoticeRegister() = default;
  // Throws NoticeRegisterError ("line N: what is wrong and what to do"):
  // a missing header, a bad date, a duplicate patient, an unknown patient
  // (when `known` is given), a date after `today` (when given).
  [[nodiscard]] static NoticeRegister parse(std::string_view bytes, const KnownPatient& known = {},
                                            std::string_view today = {});

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] const std::vector<NoticeRegisterEntry>& entries() const noexcept { return entries_; }
  [[nodiscard]] const NoticeRegisterEntry* by_patient(std::string_view patient_id) const;

 private:
  std::vector<NoticeRegisterEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> by_patient_;
};

// ---- calendar dates ---------------------------------------------------------
// Days since 1970-01-01 of a YYYYMMDD date, or nullopt when it is not one.
[[nodiscard]] std::optional<std::int64_t> day_number(std::string_view yyyymmdd);
[[nodiscard]] std::string date_of_day(std::int64_t day);
[[nodiscard]] std::string add_days(std::string_view yyyymmdd, std::int64_t days);
// The last day of a month YYYYMM, or empty when it is not one. A record
// dated only by its month (DPC, UKE) counts as an encounter on the month's
// last day: never earlier than the truth, so eligibility never comes early.
[[nodiscard]] std::string month_end(std::string_view yyyymm);
// YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD -> YYYYMMDD; empty when not a date.
[[nodiscard]] std::string parse_calendar_date(std::string_view text);

// ---- eligibility -------------------------------------------------------------

struct NoticeSettings {
  std::string start;      // YYYYMMDD; empty = notice not in force
  std::int64_t wait_days = 30;
  std::string today;      // YYYYMMDD (local)
};

// One encounter: the patient (or DPC データ識別番号), its date and where it
// was seen ("ssmix2 20260105 ADT-12", "dpc 202602"): for `notice check`.
struct Encounter {
  std::string patient_id;
  std::string date;
  std::string where;
};

struct Eligibility {
  bool eligible = false;
  std::string eligible_on;  // YYYYMMDD, empty when unknown (no encounter since start, not in the register)
  // Why: "first encounter 2026-01-05 (ssmix2 ADT-12)" or "register line 3".
  std::string first_encounter;
  std::string encounter_where;
  const NoticeRegisterEntry* register_entry = nullptr;
};

class NoticeBook {
 public:
  NoticeBook(NoticeSettings settings, std::shared_ptr<const NoticeRegister> notice_register);

  [[nodiscard]] const NoticeSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] const NoticeRegister& notice_register() const noexcept { return *register_; }
  // A new day (the collection's clock moved on).
  void set_today(std::string today);

  // Whether a patient's data may go today; `encounter_here` is the date the
  // data itself shows (counted as an encounter when on or after start).
  [[nodiscard]] bool eligible(std::string_view patient_id, std::string_view encounter_here = {}) const;
  [[nodiscard]] Eligibility eligibility(std::string_view patient_id) const;

  // Records an encounter (kept when it is the patient's first on or after
  // start; one without a date, or before start, only makes the patient
  // known). Returns true when it made the patient eligible today.
  bool record(const Encounter& encounter);
  // Whether record() made anyone eligible since the last call (then data
  // held earlier in the same pass may go: the pass is run again).
  [[nodiscard]] bool take_newly_eligible();

  // state.db: the patients' first encounters (collectors migration 3).
  void load(base::Database& db);
  // Writes what record() changed; in its own transaction.
  void save(base::Database& db);

  struct Patient {
    std::string first_encounter;  // empty: data seen, no encounter since start
    std::string where;
  };
  // A copy of every patient seen (for the report and status).
  [[nodiscard]] std::map<std::string, Patient, std::less<>> patients() const;

 private:
  [[nodiscard]] std::string eligible_on_locked(std::string_view patient_id, std::string_view encounter_here) const;

  NoticeSettings settings_;
  std::shared_ptr<const NoticeRegister> register_;
  mutable std::mutex mutex_;
  std::map<std::string, Patient, std::less<>> patients_;
  std::set<std::string, std::less<>> dirty_;
  bool newly_eligible_ = false;
};

}  // namespace medgw::collectors
