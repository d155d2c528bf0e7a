#include <daemon/runtime/policy_clock.hpp>

#include <cstdlib>
#include <ctime>

namespace medgw::daemon {

std::optional<std::string> test_today() {
#ifdef MEDGW_TEST_CLOCK
  const char* text = std::getenv("MEDGW_TEST_TODAY");
  if (text == nullptr) return std::nullopt;
  const std::string date(text);
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  return date;
#else
  return std::nullopt;
#endif
}

std::chrono::system_clock::time_point policy_now(std::chrono::system_clock::time_point now) {
  const std::optional<std::string> date = test_today();
  if (!date) return now;
  std::tm local{};
  try {
    local.tm_year = std::stoi(date->substr(0, 4)) - 1900;
    local.tm_mon = std::stoi(date->substr(5, 2)) - 1;
    local.tm_mday = std::stoi(date->substr(8, 2));
  } catch (const std::exception&) {
    return now;
  }
  local.tm_hour = 12;
  local.tm_isdst = -1;
  const std::time_t seconds = std::mktime(&local);
  return seconds == -1 ? now : std::chrono::system_clock::from_time_t(seconds);
}

}  // namespace medgw::daemon
