#pragma once
// Fixed vocabularies for synthetic patients and clinical content. Names are
// common Japanese names; several were chosen because their JIS X 0208 byte
// pairs contain HL7 delimiter bytes (山本 '\', 五十嵐 '^', 服部 '~', 奥村 '|',
// 勇 '&'), which is the classic trap for a parser that splits before decoding.
// Codes are realistic in form, not a reference for real use.
#include <span>
#include <string_view>

namespace medgw::sample {

struct NamePair {
  std::string_view kanji;
  std::string_view kana;  // full-width katakana
};

struct Department {
  std::string_view code;  // HL7 table 0069 style, as in the file name
  std::string_view name;
};

struct Drug {
  std::string_view hot9;      // HOT9 code used in HL7
  std::string_view receipt;   // レセ電 医薬品コード (9)
  std::string_view name;
  std::string_view unit_code; // MR9P
  std::string_view unit_name;
  int points;                 // 点数 per unit dose (as in a receipt)
};

struct LabTest {
  std::string_view jlac10;
  std::string_view name;
  std::string_view unit;
  double low;
  double high;
  int decimals;
};

struct Diagnosis {
  std::string_view code;   // 傷病名コード (7)
  std::string_view icd10;
  std::string_view name;
};

struct Procedure {
  std::string_view receipt;  // 診療行為コード (9)
  std::string_view name;
  std::string_view category; // 診療識別 (2)
  int points;
};

struct Address {
  std::string_view postcode;
  std::string_view text;  // prefecture + city + town, full width
};

struct Allergen {
  std::string_view type;      // HL70127
  std::string_view type_name;
  std::string_view code;
  std::string_view name;
  std::string_view system;
  std::string_view reaction;
};

struct Insurer {
  std::string_view number;  // 保険者番号, 8 chars (space-padded for 6-digit 国保)
  std::string_view kind;    // JHSD0001 code
  std::string_view kind_name;
};

std::span<const NamePair> surnames();
std::span<const NamePair> male_given_names();
std::span<const NamePair> female_given_names();
std::span<const Department> departments();
std::span<const Drug> oral_drugs();
std::span<const Drug> injections();
std::span<const LabTest> lab_tests();
std::span<const Diagnosis> diagnoses();
std::span<const Procedure> outpatient_procedures();
std::span<const Address> addresses();
std::span<const Allergen> allergens();
std::span<const Insurer> insurers();
std::span<const std::string_view> wards();
std::span<const std::string_view> dosage_instructions();
std::span<const std::string_view> diet_comments();

}  // namespace medgw::sample
