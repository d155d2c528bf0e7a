#include <base/time_format.hpp>

#include <array>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace medgw::base {

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  const std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text.data(), length);
}

std::string rfc3339_local_micros(std::chrono::system_clock::time_point time) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  const auto seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm local{};
  localtime_r(&seconds, &local);
  std::array<char, 40> text{};
  std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &local);
  length += static_cast<std::size_t>(std::snprintf(text.data() + length, text.size() - length,
                                                   ".%06lld", static_cast<long long>(micros % 1000000)));
  std::array<char, 8> zone{};
  std::strftime(zone.data(), zone.size(), "%z", &local);
  std::string out(text.data(), length);
  // strftime gives +0900; RFC 3339 wants +09:00.
  const std::string_view offset(zone.data());
  if (offset.size() == 5) {
    out.append(offset.substr(0, 3)).append(":").append(offset.substr(3));
  } else {
    out.append(offset);
  }
  return out;
}

}  // namespace medgw::base
