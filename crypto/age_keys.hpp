#pragma once
// Text forms of age X25519 keys: recipients "age1..." (lower case) and
// identities "AGE-SECRET-KEY-1..." (upper case), both Bech32.
#include <crypto/secure_bytes.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::crypto {

using X25519PublicKey = std::array<std::uint8_t, 32>;

[[nodiscard]] std::optional<X25519PublicKey> parse_recipient(std::string_view text);
[[nodiscard]] std::string format_recipient(const X25519PublicKey& key);

struct X25519Identity {
  SecureBytes secret;  // 32 bytes
  X25519PublicKey public_key{};
};

[[nodiscard]] X25519Identity generate_identity();
// "AGE-SECRET-KEY-1..." (upper case, as age writes it).
[[nodiscard]] std::optional<X25519Identity> parse_identity(std::string_view text);
[[nodiscard]] SecureString format_identity(const X25519Identity& identity);

// An identity file as age-keygen writes it: "# created: ...", "# public key:
// age1...", then the key; '#' lines and blank lines are ignored.
[[nodiscard]] SecureString identity_file_text(const X25519Identity& identity, std::string_view created_rfc3339);

struct KeyFileError {
  std::size_t line = 0;  // 1-based; the line itself is never echoed (it may be a secret)
  std::string message;
};

// Parses every identity in an identity file; on error says which line.
[[nodiscard]] std::vector<X25519Identity> parse_identity_file(std::string_view content, KeyFileError& error);
// Parses a recipients file (one age1... per line, '#' comments).
[[nodiscard]] std::vector<X25519PublicKey> parse_recipients_file(std::string_view content, KeyFileError& error);

}  // namespace medgw::crypto
