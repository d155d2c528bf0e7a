#pragma once
// The hospital's opt-out list (次世代医療基盤法: a patient may refuse
// provision): a CSV with the header patient_id,dpc_id,kana_name,birth_date,
// requested_on (columns in any order; only patient_id required), UTF-8 or
// CP932. Errors name the file and line, never a value (values are PHI).
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

struct OptOutEntry {
  std::string patient_id;    // カルテ番号 (the SS-MIX2 patient ID)
  std::string dpc_id;        // DPC データ識別番号, when it differs from patient_id
  std::string kana_name;     // カタカナ氏名 without spaces (matches receipts without カルテ番号)
  std::string birth_date;    // YYYYMMDD
  std::string requested_on;  // YYYYMMDD
  std::size_t line = 0;
};

class OptOutError : public std::runtime_error {
 public:
  OptOutError(std::size_t line, const std::string& message) : std::runtime_error(message), line_(line) {}
  [[nodiscard]] std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

class OptOutList {
 public:
  OptOutList() = default;
  // Throws OptOutError ("line N: what is wrong and what to do").
  [[nodiscard]] static OptOutList parse(std::string_view bytes);
  // Throws OptOutError with the file name in the message; a missing file is an error too.
  [[nodiscard]] static OptOutList load(const std::filesystem::path& file);

  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] const std::vector<OptOutEntry>& entries() const noexcept { return entries_; }

  [[nodiscard]] const OptOutEntry* by_patient(std::string_view patient_id) const;
  // A DPC データ識別番号: the entry's dpc_id, or its patient_id when no dpc_id is given.
  [[nodiscard]] const OptOutEntry* by_dpc(std::string_view dpc_id) const;
  // A receipt without カルテ番号: katakana name (spaces ignored) and birth date YYYYMMDD.
  [[nodiscard]] const OptOutEntry* by_person(std::string_view kana_name, std::string_view birth_date) const;
  // Whether any entry can match receipts by name and birth date.
  [[nodiscard]] bool has_people() const noexcept { return !by_person_.empty(); }

 private:
  void index();
  std::vector<OptOutEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> by_patient_;
  std::map<std::string, std::size_t, std::less<>> by_dpc_;
  std::map<std::string, std::size_t, std::less<>> by_person_;
};

// Shared by the hospital's CSV files (the opt-out list, the notice register).
// The file's text as UTF-8 (a BOM dropped; CP932 decoded), or nullopt when
// it is neither UTF-8 nor CP932.
[[nodiscard]] std::optional<std::string> csv_text(std::string_view bytes);
// One CSV line: commas, optional double quotes ("" inside quotes is a
// quote); false when a quoted field is not closed.
[[nodiscard]] bool split_csv_line(std::string_view line, std::vector<std::string>& fields);
// A patient ID as the lists accept it: 1-64 printable ASCII without comma.
[[nodiscard]] bool valid_patient_id(std::string_view id);

}  // namespace medgw::collectors
