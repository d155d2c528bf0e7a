#include <collectors/notice.hpp>

#include <base/text.hpp>

#include <base/time_format.hpp>

#include <collectors/optout.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <utility>

namespace medgw::collectors {
namespace {

std::string line_prefix(std::size_t line) { return "line " + std::to_string(line) + ": "; }

}  // namespace

// ---- calendar dates ---------------------------------------------------------

std::optional<std::int64_t> day_number(std::string_view text) {
  if (text.size() != 8 || !base::all_digits(text)) return std::nullopt;
  const int year = std::stoi(std::string(text.substr(0, 4)));
  const unsigned month = static_cast<unsigned>(std::stoi(std::string(text.substr(4, 2))));
  const unsigned day = static_cast<unsigned>(std::stoi(std::string(text.substr(6, 2))));
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}};
  if (!date.ok() || year < 1900) return std::nullopt;
  return std::chrono::sys_days(date).time_since_epoch().count();
}

std::string date_of_day(std::int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
  char text[16];
  std::snprintf(text, sizeof text, "%04d%02u%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  return text;
}

std::string add_days(std::string_view yyyymmdd, std::int64_t days) {
  const auto day = day_number(yyyymmdd);
  return day ? date_of_day(*day + days) : std::string();
}

std::string month_end(std::string_view yyyymm) {
  if (yyyymm.size() != 6 || !base::all_digits(yyyymm)) return {};
  const int year = std::stoi(std::string(yyyymm.substr(0, 4)));
  const unsigned month = static_cast<unsigned>(std::stoi(std::string(yyyymm.substr(4, 2))));
  const std::chrono::year_month_day_last last{std::chrono::year{year},
                                              std::chrono::month_day_last{std::chrono::month{month}}};
  if (!last.ok() || year < 1900) return {};
  return date_of_day(std::chrono::sys_days(last).time_since_epoch().count());
}

std::string parse_calendar_date(std::string_view text) {
  std::string compact;
  if (text.size() == 10 && (text[4] == '-' || text[4] == '/') && text[7] == text[4]) {
    compact = std::string(text.substr(0, 4)) + std::string(text.substr(5, 2)) + std::string(text.substr(8, 2));
  } else {
    compact = std::string(text);
  }
  return day_number(compact) ? compact : std::string();
}

// ---- the register -------------------------------------------------------------

NoticeRegister NoticeRegister::parse(std::string_view bytes, const KnownPatient& known, std::string_view today) {
  const std::optional<std::string> text = csv_text(bytes);
  if (!text) {
    throw NoticeRegisterError(1, "line 1: the file is neither UTF-8 nor CP932 (Shift_JIS); save it as UTF-8 or CP932 CSV");
  }
  NoticeRegister out;
  std::vector<std::string> fields;
  int id_column = -1;
  int date_column = -1;
  bool header_seen = false;
  std::size_t line_number = 0;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    ++line_number;
    std::string_view content = line;
    while (!content.empty() && (content.back() == '\r' || content.back() == ' ' || content.back() == '\t')) {
      content.remove_suffix(1);
    }
    while (!content.empty() && (content.front() == ' ' || content.front() == '\t')) content.remove_prefix(1);
    if (content.empty() || content.starts_with('#')) continue;
    const std::string where = line_prefix(line_number);
    if (!split_csv_line(content, fields)) throw NoticeRegisterError(line_number, where + "a quoted field is not closed");
    if (!header_seen) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        std::string name = fields[i];
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (name == "patient_id") {
          id_column = static_cast<int>(i);
        } else if (name == "notified_on") {
          date_column = static_cast<int>(i);
        } else {
          throw NoticeRegisterError(line_number, where + "unknown column '" + name +
                                                     "'; the header is patient_id,notified_on");
        }
      }
      if (id_column < 0 || date_column < 0) {
        throw NoticeRegisterError(line_number, where + "the first line must be the header patient_id,notified_on");
      }
      header_seen = true;
      continue;
    }
    if (fields.size() > static_cast<std::size_t>(std::max(id_column, date_column) + 1)) {
      throw NoticeRegisterError(line_number, where + "more fields than the header names");
    }
    auto column = [&](int at) {
      return static_cast<std::size_t>(at) < fields.size() ? fields[static_cast<std::size_t>(at)] : std::string();
    };
    NoticeRegisterEntry entry{column(id_column), parse_calendar_date(column(date_column)), line_number};
    if (!valid_patient_id(entry.patient_id)) {
      throw NoticeRegisterError(line_number, where + "patient_id is missing or has spaces or control characters");
    }
    if (entry.notified_on.empty()) {
      throw NoticeRegisterError(line_number, where + "notified_on must be a calendar date YYYY-MM-DD");
    }
    if (!today.empty() && entry.notified_on > today) {
      throw NoticeRegisterError(line_number, where + "notified_on is in the future; a notice counts once it was given");
    }
    if (const NoticeRegisterEntry* earlier = out.by_patient(entry.patient_id)) {
      throw NoticeRegisterError(line_number, where + "the patient is already listed on line " +
                                                 std::to_string(earlier->line) + "; keep one line per patient");
    }
    if (known && !known(entry.patient_id)) {
      throw NoticeRegisterError(line_number, where + "unknown patient_id: no such patient in the SS-MIX2 storage "
                                                     "(a typo would leave the patient counted as not notified)");
    }
    out.by_patient_.emplace(entry.patient_id, out.entries_.size());
    out.entries_.push_back(std::move(entry));
  }
  if (!header_seen) throw NoticeRegisterError(1, "line 1: the header patient_id,notified_on is missing");
  return out;
}

const NoticeRegisterEntry* NoticeRegister::by_patient(std::string_view patient_id) const {
  const auto found = by_patient_.find(patient_id);
  return found == by_patient_.end() ? nullptr : &entries_[found->second];
}

// ---- the book -------------------------------------------------------------------

NoticeBook::NoticeBook(NoticeSettings settings, std::shared_ptr<const NoticeRegister> notice_register)
    : settings_(std::move(settings)),
      register_(notice_register ? std::move(notice_register) : std::make_shared<const NoticeRegister>()) {}

void NoticeBook::set_today(std::string today) {
  std::lock_guard lock(mutex_);
  settings_.today = std::move(today);
}

std::string NoticeBook::eligible_on_locked(std::string_view patient_id, std::string_view encounter_here) const {
  std::string first;
  if (const auto known = patients_.find(patient_id); known != patients_.end()) first = known->second.first_encounter;
  if (!encounter_here.empty() && encounter_here >= std::string_view(settings_.start) &&
      (first.empty() || encounter_here < first)) {
    first = std::string(encounter_here);
  }
  std::string from = first;
  if (const NoticeRegisterEntry* entry = register_->by_patient(patient_id)) {
    if (from.empty() || entry->notified_on < from) from = entry->notified_on;
  }
  return from.empty() ? std::string() : add_days(from, settings_.wait_days);
}

bool NoticeBook::eligible(std::string_view patient_id, std::string_view encounter_here) const {
  std::lock_guard lock(mutex_);
  const std::string on = eligible_on_locked(patient_id, encounter_here);
  return !on.empty() && on <= settings_.today;
}

Eligibility NoticeBook::eligibility(std::string_view patient_id) const {
  std::lock_guard lock(mutex_);
  Eligibility out;
  out.eligible_on = eligible_on_locked(patient_id, {});
  out.eligible = !out.eligible_on.empty() && out.eligible_on <= settings_.today;
  if (const auto known = patients_.find(patient_id); known != patients_.end()) {
    out.first_encounter = known->second.first_encounter;
    out.encounter_where = known->second.where;
  }
  out.register_entry = register_->by_patient(patient_id);
  return out;
}

bool NoticeBook::record(const Encounter& encounter) {
  if (encounter.patient_id.empty() || settings_.start.empty()) return false;
  std::lock_guard lock(mutex_);
  if (encounter.date.size() != 8 || encounter.date < settings_.start) {
    // Data of the patient, but no encounter since the notice began: known
    // (held, and listed by `notice report`), with no date yet.
    if (patients_.try_emplace(encounter.patient_id).second) dirty_.insert(encounter.patient_id);
    return false;
  }
  Patient& patient = patients_[encounter.patient_id];
  if (!patient.first_encounter.empty() && patient.first_encounter <= encounter.date) return false;
  const std::string before = eligible_on_locked(encounter.patient_id, {});
  patient.first_encounter = encounter.date;
  patient.where = encounter.where;
  dirty_.insert(encounter.patient_id);
  const std::string after = eligible_on_locked(encounter.patient_id, {});
  const bool became = after <= settings_.today && (before.empty() || before > settings_.today);
  if (became) newly_eligible_ = true;
  return became;
}

bool NoticeBook::take_newly_eligible() {
  std::lock_guard lock(mutex_);
  return std::exchange(newly_eligible_, false);
}

void NoticeBook::load(base::Database& db) {
  std::lock_guard lock(mutex_);
  base::Statement rows = db.prepare("SELECT patient_id, first_encounter, encounter_where FROM notice_patients");
  while (rows.step()) patients_[rows.column_text(0)] = Patient{rows.column_text(1), rows.column_text(2)};
}

void NoticeBook::save(base::Database& db) {
  std::lock_guard lock(mutex_);
  if (dirty_.empty()) return;
  base::WriteTransaction transaction(db);
  base::Statement upsert = db.prepare(
      "INSERT INTO notice_patients (patient_id, first_encounter, encounter_where, recorded_at) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (patient_id) DO UPDATE SET first_encounter = excluded.first_encounter, "
      "encounter_where = excluded.encounter_where, recorded_at = excluded.recorded_at "
      "WHERE notice_patients.first_encounter = '' OR "
      "(excluded.first_encounter <> '' AND excluded.first_encounter < notice_patients.first_encounter)");
  const std::int64_t now = base::unix_ms_now();
  for (const std::string& id : dirty_) {
    const Patient& patient = patients_.at(id);
    upsert.bind_all(id, patient.first_encounter, patient.where, now).run();
    upsert.reset();
  }
  transaction.commit();
  dirty_.clear();
}

std::map<std::string, NoticeBook::Patient, std::less<>> NoticeBook::patients() const {
  std::lock_guard lock(mutex_);
  return patients_;
}

}  // namespace medgw::collectors
