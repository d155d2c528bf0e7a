#include <crypto/bech32.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace medgw::crypto {
namespace {

constexpr std::string_view alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
  constexpr std::array<std::uint32_t, 5> generator{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                   0x2a1462b3};
  std::uint32_t checksum = 1;
  for (std::uint8_t value : values) {
    const std::uint32_t top = checksum >> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (std::size_t i = 0; i < generator.size(); ++i) {
      if (((top >> i) & 1U) != 0) checksum ^= generator[i];
    }
  }
  return checksum;
}

std::vector<std::uint8_t> expand_hrp(std::string_view hrp) {
  std::vector<std::uint8_t> out;
  out.reserve(hrp.size() * 2 + 1);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
  return out;
}

int alphabet_index(char c) {
  const auto position = alphabet.find(c);
  return position == std::string_view::npos ? -1 : static_cast<int>(position);
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

std::optional<Bech32Data> bech32_decode(std::string_view text) {
  bool has_lower = false;
  bool has_upper = false;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 33 || byte > 126) return std::nullopt;
    if (c >= 'a' && c <= 'z') has_lower = true;
    if (c >= 'A' && c <= 'Z') has_upper = true;
  }
  if (has_lower && has_upper) return std::nullopt;
  const auto separator = text.rfind('1');
  if (separator == std::string_view::npos || separator == 0 || separator + 7 > text.size()) {
    return std::nullopt;
  }
  std::string hrp;
  for (char c : text.substr(0, separator)) hrp.push_back(to_lower(c));

  std::vector<std::uint8_t> values = expand_hrp(hrp);
  const std::size_t data_start = values.size();
  for (char c : text.substr(separator + 1)) {
    const int index = alphabet_index(to_lower(c));
    if (index < 0) return std::nullopt;
    values.push_back(static_cast<std::uint8_t>(index));
  }
  if (polymod(values) != 1) return std::nullopt;

  // Regroup the 5-bit words (without the 6 checksum words) into bytes.
  SecureBytes bytes;
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (std::size_t i = data_start; i + 6 < values.size(); ++i) {
    accumulator = (accumulator << 5) | values[i];
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>((accumulator >> bits) & 0xFF));
    }
  }
  if (bits >= 5 || (accumulator & ((1U << bits) - 1)) != 0) return std::nullopt;
  secure_wipe(values.data(), values.size());
  return Bech32Data{std::move(hrp), std::move(bytes)};
}

std::string bech32_encode(std::string_view hrp, ByteView bytes, bool upper_case) {
  std::vector<std::uint8_t> words;
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (std::uint8_t byte : bytes) {
    accumulator = (accumulator << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push_back(static_cast<std::uint8_t>((accumulator >> bits) & 31));
    }
  }
  if (bits > 0) words.push_back(static_cast<std::uint8_t>((accumulator << (5 - bits)) & 31));

  // The checksum covers the lower-case form; upper case is only a rendering.
  std::string lower_hrp;
  for (char c : hrp) lower_hrp.push_back(to_lower(c));
  std::vector<std::uint8_t> values = expand_hrp(lower_hrp);
  values.insert(values.end(), words.begin(), words.end());
  values.insert(values.end(), 6, 0);
  const std::uint32_t checksum = polymod(values) ^ 1;

  std::string out(lower_hrp);
  out.push_back('1');
  for (std::uint8_t word : words) out.push_back(alphabet[word]);
  for (int i = 0; i < 6; ++i) out.push_back(alphabet[(checksum >> (5 * (5 - i))) & 31]);
  if (upper_case) {
    for (char& c : out) c = to_upper(c);
  }
  secure_wipe(words.data(), words.size());
  secure_wipe(values.data(), values.size());
  return out;
}

}  // namespace medgw::crypto
