#pragma once
// Bech32 (BIP 173 checksum) as age uses it for keys: "age1..." recipients and
// "AGE-SECRET-KEY-1..." identities. Unlike BIP 173, age sets no 90-character
// limit. Mixed case, a bad checksum or non-zero padding bits are rejected.
#include <crypto/secure_bytes.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace medgw::crypto {

struct Bech32Data {
  std::string hrp;    // lower case
  SecureBytes bytes;  // 8-bit payload
};

[[nodiscard]] std::optional<Bech32Data> bech32_decode(std::string_view text);
// Lower-case output unless `upper_case` (age writes identities in upper case).
[[nodiscard]] std::string bech32_encode(std::string_view hrp, ByteView bytes, bool upper_case = false);

}  // namespace medgw::crypto
