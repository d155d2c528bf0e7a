#pragma once
// X25519 (RFC 7748) on OpenSSL 3 EVP.
#include <crypto/age_keys.hpp>
#include <crypto/secure_bytes.hpp>

#include <optional>

namespace medgw::crypto {

inline constexpr std::size_t x25519_key_size = 32;

[[nodiscard]] SecureBytes x25519_generate_secret();
[[nodiscard]] X25519PublicKey x25519_public_key(ByteView secret);
// nullopt when the result is the all-zero value (a low-order or identity
// share), which age requires to be refused.
[[nodiscard]] std::optional<SecureBytes> x25519_shared_secret(ByteView secret, ByteView peer_public);

}  // namespace medgw::crypto
