#pragma once
// At most `per_minute` log lines of one kind a minute (a flood of refused
// connections must not become a flood of log lines); the lines held back are
// counted and reported with the next one let through.
#include <chrono>
#include <cstdint>

namespace medgw::receiver {

class LogThrottle {
 public:
  explicit LogThrottle(std::uint64_t per_minute) : per_minute_(per_minute) {}

  // True when this event may be logged; `suppressed` then says how many
  // were held back since the last one logged.
  bool allow(std::chrono::steady_clock::time_point now, std::uint64_t& suppressed) {
    if (now - window_start_ >= std::chrono::minutes(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_minute_) {
      ++held_back_;
      return false;
    }
    ++in_window_;
    suppressed = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  std::uint64_t per_minute_;
  std::chrono::steady_clock::time_point window_start_{};
  std::uint64_t in_window_ = 0;
  std::uint64_t held_back_ = 0;
};

}  // namespace medgw::receiver
