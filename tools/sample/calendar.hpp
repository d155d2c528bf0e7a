#pragma once
// Dates and timestamps as the hospital formats write them.
#include <chrono>
#include <cstdint>
#include <string>

namespace medgw::sample {

using Day = std::chrono::sys_days;

// A moment in Japan local time (JST, no DST), in milliseconds from the epoch
// of the local calendar; converted to UTC only for file mtimes.
struct LocalTime {
  Day day;
  std::int64_t millis = 0;  // since local midnight

  [[nodiscard]] std::string yyyymmdd() const;
  [[nodiscard]] std::string yyyymmddhhmm() const;
  [[nodiscard]] std::string yyyymmddhhmmss() const;
  [[nodiscard]] std::string timestamp17() const;  // YYYYMMDDHHMMSSFFF
  [[nodiscard]] std::int64_t unix_seconds() const;  // JST -> UTC
  [[nodiscard]] LocalTime plus_minutes(std::int64_t minutes) const;
  friend auto operator<=>(const LocalTime&, const LocalTime&) = default;
};

[[nodiscard]] std::string yyyymmdd(Day day);
[[nodiscard]] std::string yyyymm(Day day);
[[nodiscard]] std::string yymm(Day day);
[[nodiscard]] Day make_day(int year, unsigned month, unsigned day);
[[nodiscard]] Day first_of_month(Day day);
[[nodiscard]] Day add_months(Day day, int months);
// Parses YYYYMMDDHHMMSS[FFF]; false on malformed input.
[[nodiscard]] bool parse_timestamp(const std::string& text, LocalTime& out);

}  // namespace medgw::sample
