#include <daemon/config/units.hpp>

#include <base/text.hpp>

#include <array>
#include <ctime>
#include <charconv>
#include <cstdio>
#include <limits>

namespace medgw::daemon {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Longest suffixes first so that "MiB" is not read as "B".
constexpr std::array<Unit, 10> size_units{{
    {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40},
    {"KB", 1000ULL}, {"MB", 1000ULL * 1000}, {"GB", 1000ULL * 1000 * 1000},
    {"TB", 1000ULL * 1000 * 1000 * 1000}, {"B", 1}, {"", 1},
}};

constexpr std::string_view size_hint =
    "use a whole number of bytes with an optional unit: B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB), "
    "e.g. 16MiB";

constexpr std::string_view duration_hint =
    "use a number with a unit: ms, s, m, h or d, e.g. 30s, 10m, 1h30m";


std::optional<std::uint64_t> to_number(std::string_view digits) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

Parsed<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return Parsed<std::uint64_t>::fail("bad size " + quoted(text) + ": " + std::string(size_hint));
  const std::string_view suffix = text.substr(digits);
  for (const Unit& unit : size_units) {
    if (suffix != unit.suffix) continue;
    auto number = to_number(text.substr(0, digits));
    if (!number || (unit.factor > 1 && *number > std::numeric_limits<std::uint64_t>::max() / unit.factor)) {
      return Parsed<std::uint64_t>::fail("size " + quoted(text) + " is too large");
    }
    return Parsed<std::uint64_t>::ok(*number * unit.factor);
  }
  return Parsed<std::uint64_t>::fail("bad size " + quoted(text) + ": " + std::string(size_hint));
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  constexpr std::array<Unit, 4> binary{{{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}}};
  for (const Unit& unit : binary) {
    if (bytes % unit.factor == 0) return std::to_string(bytes / unit.factor) + std::string(unit.suffix);
  }
  return std::to_string(bytes) + "B";
}

Parsed<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Parsed<Duration>::ok(Duration::zero());
  if (text.empty()) return Parsed<Duration>::fail("empty duration: " + std::string(duration_hint));
  if (base::all_digits(text)) {
    return Parsed<Duration>::fail("duration " + quoted(text) + " has no unit: " + std::string(duration_hint));
  }
  Duration total = Duration::zero();
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0) return Parsed<Duration>::fail("bad duration " + quoted(text) + ": " + std::string(duration_hint));
    auto number = to_number(rest.substr(0, digits));
    rest.remove_prefix(digits);
    std::uint64_t millis_per_unit = 0;
    if (rest.starts_with("ms")) {
      millis_per_unit = 1;
      rest.remove_prefix(2);
    } else if (!rest.empty() && (rest[0] == 's' || rest[0] == 'm' || rest[0] == 'h' || rest[0] == 'd')) {
      millis_per_unit = rest[0] == 's' ? 1000 : rest[0] == 'm' ? 60'000 : rest[0] == 'h' ? 3'600'000 : 86'400'000;
      rest.remove_prefix(1);
    } else {
      return Parsed<Duration>::fail("bad duration " + quoted(text) + ": " + std::string(duration_hint));
    }
    constexpr std::uint64_t max_millis = 100ULL * 365 * 86'400'000;  // a century is plenty
    if (!number || *number > max_millis / millis_per_unit) {
      return Parsed<Duration>::fail("duration " + quoted(text) + " is too long");
    }
    total += Duration(static_cast<Duration::rep>(*number * millis_per_unit));
    if (static_cast<std::uint64_t>(total.count()) > max_millis) {
      return Parsed<Duration>::fail("duration " + quoted(text) + " is too long");
    }
  }
  return Parsed<Duration>::ok(total);
}

std::string format_duration(Duration duration) {
  auto millis = static_cast<std::uint64_t>(duration.count());
  if (millis == 0) return "0";
  std::string out;
  constexpr std::array<Unit, 5> units{{{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}}};
  for (const Unit& unit : units) {
    if (millis >= unit.factor) {
      out += std::to_string(millis / unit.factor) + std::string(unit.suffix);
      millis %= unit.factor;
    }
  }
  return out;
}

bool TimeWindow::contains(int minute_of_day) const noexcept {
  if (always) return true;
  if (start_minute < end_minute) return minute_of_day >= start_minute && minute_of_day < end_minute;
  return minute_of_day >= start_minute || minute_of_day < end_minute;  // wraps midnight
}

bool TimeWindow::contains_now() const noexcept {
  if (always) return true;
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  return contains(local.tm_hour * 60 + local.tm_min);
}

std::string TimeWindow::text() const {
  if (always) return "";
  std::array<char, 48> out{};
  std::snprintf(out.data(), out.size(), "%02d:%02d-%02d:%02d", start_minute / 60, start_minute % 60,
                end_minute / 60, end_minute % 60);
  return out.data();
}

Parsed<TimeWindow> parse_window(std::string_view text) {
  if (text.empty()) return Parsed<TimeWindow>::ok(TimeWindow{});
  const std::string hint = "bad window " + quoted(text) +
                           ": use local times HH:MM-HH:MM, e.g. 19:00-07:00 (may wrap past midnight), "
                           "or \"\" for no limit";
  auto parse_clock = [](std::string_view clock) -> std::optional<int> {
    if (clock.size() != 5 || clock[2] != ':' || !base::all_digits(clock.substr(0, 2)) || !base::all_digits(clock.substr(3, 2))) {
      return std::nullopt;
    }
    const int hours = (clock[0] - '0') * 10 + (clock[1] - '0');
    const int minutes = (clock[3] - '0') * 10 + (clock[4] - '0');
    if (hours > 23 || minutes > 59) return std::nullopt;
    return hours * 60 + minutes;
  };
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return Parsed<TimeWindow>::fail(hint);
  auto start = parse_clock(text.substr(0, dash));
  auto end = parse_clock(text.substr(dash + 1));
  if (!start || !end) return Parsed<TimeWindow>::fail(hint);
  if (*start == *end) {
    return Parsed<TimeWindow>::fail("window " + quoted(text) +
                                    " starts and ends at the same time; use \"\" for no limit");
  }
  return Parsed<TimeWindow>::ok(TimeWindow{*start, *end, false});
}

}  // namespace medgw::daemon
