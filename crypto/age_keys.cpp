#include <crypto/age_keys.hpp>
#include <crypto/bech32.hpp>

#include <algorithm>

namespace medgw::crypto {

std::optional<X25519PublicKey> parse_recipient(std::string_view text) {
  // age recipients are always lower case; an upper-case one is a typo.
  if (std::any_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return std::nullopt;
  }
  auto decoded = bech32_decode(text);
  if (!decoded || decoded->hrp != "age" || decoded->bytes.size() != 32) return std::nullopt;
  X25519PublicKey key{};
  std::copy(decoded->bytes.begin(), decoded->bytes.end(), key.begin());
  return key;
}

std::string format_recipient(const X25519PublicKey& key) { return bech32_encode("age", key); }

}  // namespace medgw::crypto
