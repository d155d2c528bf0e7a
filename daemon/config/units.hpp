#pragma once
// The value syntaxes of medgw.yaml: sizes ("16MiB"), durations ("30s",
// "1h30m"), daily time windows ("19:00-07:00"). Parsers return an error text
// that tells the operator the accepted form.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace medgw::daemon {

template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // set when !value
  explicit operator bool() const noexcept { return value.has_value(); }
  static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
  static Parsed fail(std::string message) { return Parsed{std::nullopt, std::move(message)}; }
};

using Duration = std::chrono::milliseconds;

// "0", "512", "64KiB", "16MiB", "20GiB", "1TiB" (binary) and "10KB", "5MB",
// "2GB", "1TB" (decimal); a whole number, optional "B".
[[nodiscard]] Parsed<std::uint64_t> parse_size(std::string_view text);
[[nodiscard]] std::string format_size(std::uint64_t bytes);

// "500ms", "30s", "10m", "1h", "2d", and sums such as "1h30m"; "0" alone.
[[nodiscard]] Parsed<Duration> parse_duration(std::string_view text);
[[nodiscard]] std::string format_duration(Duration duration);

// A daily local-time window "HH:MM-HH:MM"; it may wrap past midnight
// ("19:00-07:00"). Empty text = always open.
struct TimeWindow {
  int start_minute = 0;  // minutes after local midnight
  int end_minute = 0;
  bool always = true;

  [[nodiscard]] bool contains(int minute_of_day) const noexcept;
  // Whether the local time now is inside the window.
  [[nodiscard]] bool contains_now() const noexcept;
  [[nodiscard]] std::string text() const;
  friend bool operator==(const TimeWindow&, const TimeWindow&) = default;
};
[[nodiscard]] Parsed<TimeWindow> parse_window(std::string_view text);

}  // namespace medgw::daemon
