#include <crypto/uuid.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>

#include <array>

namespace medgw::crypto {

std::string uuid_v7(std::chrono::system_clock::time_point now) {
  std::array<std::uint8_t, 16> bytes{};
  random_bytes(bytes);
  const auto millis = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  for (int i = 0; i < 6; ++i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(millis >> (40 - 8 * i));
  }
  bytes[6] = static_cast<std::uint8_t>(0x70 | (bytes[6] & 0x0F));  // version 7
  bytes[8] = static_cast<std::uint8_t>(0x80 | (bytes[8] & 0x3F));  // variant 10
  const std::string hex = base::to_hex(bytes);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace medgw::crypto
