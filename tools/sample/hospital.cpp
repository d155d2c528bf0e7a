#include <tools/sample/hospital.hpp>

#include <array>
#include <cstdio>

namespace medgw::sample {
namespace {

constexpr std::uint64_t hospital_stream = 0xC0FFEE;

std::string fullwidth_digits(std::uint64_t value) {
  static constexpr std::array<std::string_view, 10> digits{"０", "１", "２", "３", "４", "５", "６", "７", "８", "９"};
  const std::string ascii = std::to_string(value);
  std::string out;
  for (char c : ascii) out += digits[static_cast<std::size_t>(c - '0')];
  return out;
}

std::string ten_digits(std::uint64_t value) {
  std::array<char, 24> text{};
  std::snprintf(text.data(), text.size(), "%010llu", static_cast<unsigned long long>(value % 10000000000ULL));
  return text.data();
}

}  // namespace

std::string Doctor::xcn() const {
  return id + "^" + std::string(surname.kanji) + "^" + std::string(given.kanji) + "^^^^^^^L^^^^^I";
}

std::string Patient::pid5() const {
  return std::string(surname.kanji) + "^" + std::string(given.kanji) + "^^^^^L^I~" + std::string(surname.kana) +
         "^" + std::string(given.kana) + "^^^^^L^P";
}

std::string Patient::kanji_name() const { return std::string(surname.kanji) + "　" + std::string(given.kanji); }
std::string Patient::kana_name() const { return std::string(surname.kana) + "　" + std::string(given.kana); }

Hospital make_hospital(const Settings& settings) {
  Rng rng(mix(settings.seed, hospital_stream));
  Hospital hospital;
  hospital.facility_code = settings.facility_code;
  hospital.facility_name = settings.facility_name;
  for (int i = 0; i < 24; ++i) {
    Doctor doctor;
    std::array<char, 16> id{};
    std::snprintf(id.data(), id.size(), "D%04d", 100 + i * 7);
    doctor.id = id.data();
    doctor.surname = rng.pick(surnames());
    doctor.given = rng.chance(0.6) ? rng.pick(male_given_names()) : rng.pick(female_given_names());
    hospital.doctors.push_back(doctor);
  }
  return hospital;
}

Patient make_patient(const Settings& settings, std::size_t index) {
  Rng rng(mix(settings.seed, index + 1));
  Patient patient;
  patient.index = index;
  // Disjoint ranges [base + 3i, base + 3i + 2] keep IDs unique in any order.
  const std::uint64_t base = (10 + mix(settings.seed, 0) % 80) * 100'000'000ULL;
  patient.id = ten_digits(base + index * 3 + rng.below(3));
  patient.dpc_id = ten_digits(9'000'000'000ULL - (mix(settings.seed, 1) % 1000) * 1'000'000ULL - index * 7 - rng.below(7));
  patient.sex = rng.chance(0.5) ? 'M' : 'F';
  patient.surname = rng.pick(surnames());
  patient.given = patient.sex == 'M' ? rng.pick(male_given_names()) : rng.pick(female_given_names());
  const int age_years = rng.chance(0.15) ? rng.between(0, 15) : rng.between(18, 95);
  patient.birth = settings.history_end - std::chrono::days(age_years * 365 + rng.between(0, 364));
  patient.address = rng.pick(addresses());
  patient.house_number = fullwidth_digits(rng.below(20) + 1) + "−" + fullwidth_digits(rng.below(30) + 1);
  std::array<char, 24> phone{};
  std::snprintf(phone.data(), phone.size(), "0%d-%03d-%04d", rng.between(3, 99), rng.between(100, 999),
                rng.between(0, 9999));
  patient.phone = phone.data();
  patient.insurer = age_years >= 75 ? insurers()[3] : rng.pick(insurers());
  patient.insurance_symbol = fullwidth_digits(rng.below(900) + 100);
  patient.insurance_number = fullwidth_digits(rng.below(9000) + 1000);
  patient.department = rng.pick(departments());
  const auto span_days = (settings.history_end - settings.history_start).count();
  patient.registered = settings.history_start + std::chrono::days(rng.below(static_cast<std::uint64_t>(span_days / 2 + 1)));
  if (patient.registered <= patient.birth) patient.registered = patient.birth + std::chrono::days(1);
  return patient;
}

}  // namespace medgw::sample
