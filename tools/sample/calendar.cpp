#include <tools/sample/calendar.hpp>

#include <array>
#include <cstdio>

namespace medgw::sample {
namespace {

struct Fields {
  int year;
  unsigned month;
  unsigned day;
};

Fields fields_of(Day day) {
  const std::chrono::year_month_day ymd(day);
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day())};
}

// Zero-padded decimal of a fixed width.
void append_padded(std::string& out, long long value, int width) {
  std::array<char, 24> digits{};
  const int length = std::snprintf(digits.data(), digits.size(), "%0*lld", width, value);
  out.append(digits.data(), static_cast<std::size_t>(length));
}

}  // namespace

std::string yyyymmdd(Day day) {
  const Fields f = fields_of(day);
  std::string out;
  append_padded(out, f.year, 4);
  append_padded(out, f.month, 2);
  append_padded(out, f.day, 2);
  return out;
}

std::string yyyymm(Day day) {
  const Fields f = fields_of(day);
  std::string out;
  append_padded(out, f.year, 4);
  append_padded(out, f.month, 2);
  return out;
}

std::string yymm(Day day) {
  const Fields f = fields_of(day);
  std::string out;
  append_padded(out, f.year % 100, 2);
  append_padded(out, f.month, 2);
  return out;
}

Day make_day(int year, unsigned month, unsigned day) {
  return Day(std::chrono::year(year) / std::chrono::month(month) / std::chrono::day(day));
}

Day first_of_month(Day day) {
  const std::chrono::year_month_day ymd(day);
  return Day(ymd.year() / ymd.month() / std::chrono::day(1));
}

Day add_months(Day day, int months) {
  const std::chrono::year_month_day ymd(first_of_month(day));
  return Day(std::chrono::year_month_day(ymd.year() / ymd.month() / std::chrono::day(1)) + std::chrono::months(months));
}

std::string LocalTime::yyyymmdd() const { return sample::yyyymmdd(day); }

std::string LocalTime::yyyymmddhhmm() const { return timestamp17().substr(0, 12); }
std::string LocalTime::yyyymmddhhmmss() const { return timestamp17().substr(0, 14); }

std::string LocalTime::timestamp17() const {
  std::string out = sample::yyyymmdd(day);
  append_padded(out, millis / 3'600'000, 2);
  append_padded(out, millis / 60'000 % 60, 2);
  append_padded(out, millis / 1000 % 60, 2);
  append_padded(out, millis % 1000, 3);
  return out;
}

std::int64_t LocalTime::unix_seconds() const {
  constexpr std::int64_t jst_offset = 9 * 3600;
  return static_cast<std::int64_t>(day.time_since_epoch().count()) * 86400 + millis / 1000 - jst_offset;
}

LocalTime LocalTime::plus_minutes(std::int64_t minutes) const {
  std::int64_t total = millis + minutes * 60'000;
  Day result_day = day;
  while (total >= 86'400'000) {
    total -= 86'400'000;
    result_day += std::chrono::days(1);
  }
  while (total < 0) {
    total += 86'400'000;
    result_day -= std::chrono::days(1);
  }
  return LocalTime{result_day, total};
}

bool parse_timestamp(const std::string& text, LocalTime& out) {
  if (text.size() < 14) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  const int year = std::stoi(text.substr(0, 4));
  const auto month = static_cast<unsigned>(std::stoi(text.substr(4, 2)));
  const auto day = static_cast<unsigned>(std::stoi(text.substr(6, 2)));
  const std::chrono::year_month_day ymd(std::chrono::year(year) / std::chrono::month(month) / std::chrono::day(day));
  if (!ymd.ok()) return false;
  std::int64_t millis = std::stoll(text.substr(8, 2)) * 3'600'000 + std::stoll(text.substr(10, 2)) * 60'000 +
                        std::stoll(text.substr(12, 2)) * 1000;
  if (text.size() >= 17) millis += std::stoll(text.substr(14, 3));
  out = LocalTime{Day(ymd), millis};
  return true;
}

}  // namespace medgw::sample
