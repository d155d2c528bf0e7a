#include <crypto/age_keys.hpp>
#include <crypto/bech32.hpp>
#include <crypto/x25519.hpp>

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

namespace {

constexpr std::string_view identity_prefix = "AGE-SECRET-KEY-1";

// Calls `each(line, number)` for every line that is not blank or a comment.
template <class Each>
bool for_each_key_line(std::string_view content, KeyFileError& error, Each&& each) {
  std::size_t number = 0;
  while (!content.empty()) {
    ++number;
    const auto end = content.find('\n');
    std::string_view line = content.substr(0, end);
    content.remove_prefix(end == std::string_view::npos ? content.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (!each(line, number)) {
      error.line = number;
      return false;
    }
  }
  return true;
}

}  // namespace

X25519Identity generate_identity() {
  X25519Identity identity;
  identity.secret = x25519_generate_secret();
  identity.public_key = x25519_public_key(identity.secret);
  return identity;
}

std::optional<X25519Identity> parse_identity(std::string_view text) {
  if (!text.starts_with(identity_prefix)) return std::nullopt;
  auto decoded = bech32_decode(text);
  if (!decoded || decoded->hrp != "age-secret-key-" || decoded->bytes.size() != x25519_key_size) return std::nullopt;
  X25519Identity identity;
  identity.secret = std::move(decoded->bytes);
  identity.public_key = x25519_public_key(identity.secret);
  return identity;
}

SecureString format_identity(const X25519Identity& identity) {
  std::string text = bech32_encode("AGE-SECRET-KEY-", identity.secret, true);
  SecureString out(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  return out;
}

SecureString identity_file_text(const X25519Identity& identity, std::string_view created_rfc3339) {
  SecureString out = "# created: ";
  out.append(created_rfc3339);
  out.append("\n# public key: ");
  out.append(format_recipient(identity.public_key));
  out.append("\n");
  out.append(format_identity(identity));
  out.append("\n");
  return out;
}

std::vector<X25519Identity> parse_identity_file(std::string_view content, KeyFileError& error) {
  std::vector<X25519Identity> identities;
  const bool ok = for_each_key_line(content, error, [&](std::string_view line, std::size_t) {
    auto identity = parse_identity(line);
    if (!identity) {
      error.message = line.starts_with("age1")
                          ? "holds a recipient (age1...), not an identity; give the AGE-SECRET-KEY-1... file"
                          : "is not an age X25519 identity (AGE-SECRET-KEY-1...); plugin and SSH keys are not supported";
      return false;
    }
    identities.push_back(std::move(*identity));
    return true;
  });
  if (!ok) return {};
  if (identities.empty()) error.message = "holds no identity";
  return identities;
}

std::vector<X25519PublicKey> parse_recipients_file(std::string_view content, KeyFileError& error) {
  std::vector<X25519PublicKey> recipients;
  const bool ok = for_each_key_line(content, error, [&](std::string_view line, std::size_t) {
    auto recipient = parse_recipient(line);
    if (!recipient) {
      error.message = "is not an age X25519 recipient (age1...)";
      return false;
    }
    recipients.push_back(*recipient);
    return true;
  });
  if (!ok) return {};
  if (recipients.empty()) error.message = "holds no recipient";
  return recipients;
}

}  // namespace medgw::crypto
