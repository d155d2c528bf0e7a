#pragma once
// Text forms of age X25519 keys: recipients "age1..." (lower case) and
// identities "AGE-SECRET-KEY-1..." (upper case), both Bech32.
#include <crypto/secure_bytes.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::crypto {

using X25519PublicKey = std::array<std::uint8_t, 32>;

[[nodiscard]] std::optional<X25519PublicKey> parse_recipient(std::string_view text);
[[nodiscard]] std::string format_recipient(const X25519PublicKey& key);

}  // namespace medgw::crypto
