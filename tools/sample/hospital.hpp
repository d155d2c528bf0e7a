#pragma once
// The synthetic hospital and its patients.
#include <tools/sample/calendar.hpp>
#include <tools/sample/catalog.hpp>
#include <tools/sample/random.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace medgw::sample {

struct Settings {
  std::uint64_t seed = 1;
  std::size_t patients = 200;
  std::string facility_code = "131234567";
  std::string facility_name = "東京メドゲート記念病院";
  Day history_start = make_day(2024, 4, 1);  // SS-MIX2 history from here...
  Day history_end = make_day(2026, 3, 31);   // ...to here (inclusive)
  int claim_months = 3;                      // DPC/UKE months ending at history_end
  bool ssmix2 = true;
  bool dpc = true;
  bool receipt = true;
};

struct Doctor {
  std::string id;  // "D0123"
  NamePair surname;
  NamePair given;
  [[nodiscard]] std::string xcn() const;  // "D0123^山本^勇^^^^^^^L^^^^^I"
};

struct Hospital {
  std::string facility_code;
  std::string facility_name;
  std::string sending_application = "HIS123";
  std::vector<Doctor> doctors;
  std::string address = "^^^^105-0001^JPN^^東京都港区虎ノ門一丁目１−１";
  std::string phone = "^^^^^^^^^^^03-3506-0000";
};

struct Patient {
  std::size_t index = 0;
  std::string id;      // カルテ番号, 10 digits
  std::string dpc_id;  // DPC データ識別番号, 10 digits, differs from id
  NamePair surname;
  NamePair given;
  char sex = 'M';
  Day birth;
  Address address;
  std::string house_number;  // "３−５" (番地−号)
  std::string phone;
  Insurer insurer;
  std::string insurance_symbol;  // 記号 (full width digits)
  std::string insurance_number;  // 番号
  Department department;         // usual department
  Day registered;

  [[nodiscard]] std::string pid3() const { return id + "^^^^PI"; }
  [[nodiscard]] std::string pid5() const;       // kanji ~ kana names
  [[nodiscard]] std::string kanji_name() const;  // "山本　勇" (full-width space)
  [[nodiscard]] std::string kana_name() const;   // "ヤマモト　イサム"
};

[[nodiscard]] Hospital make_hospital(const Settings& settings);
// Deterministic in (settings.seed, index) alone.
[[nodiscard]] Patient make_patient(const Settings& settings, std::size_t index);

}  // namespace medgw::sample
