#include <daemon/backup/format.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/text.hpp>

#include <algorithm>
#include <charconv>

namespace medgw::backup {
namespace {

using base::parse_number;

constexpr std::string_view secret_format = "medgw-backup-secret/1";

}  // namespace

BlobId blob_id(base::ByteView secret, base::ByteView content) { return crypto::hmac_sha256(secret, content); }

std::string blob_ref_text(const BlobRef& ref) {
  return base::to_hex(ref.id) + ":" + ref.pack + ":" + std::to_string(ref.offset) + ":" + std::to_string(ref.stored) +
         ":" + std::to_string(ref.size);
}

std::optional<BlobRef> parse_blob_ref(std::string_view text) {
  std::array<std::string_view, 5> parts;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto colon = text.find(':');
    if ((colon == std::string_view::npos) != (i + 1 == parts.size())) return std::nullopt;
    parts[i] = text.substr(0, colon);
    if (colon != std::string_view::npos) text.remove_prefix(colon + 1);
  }
  BlobRef ref;
  const auto id = base::from_hex(parts[0]);
  if (!id || id->size() != ref.id.size() || !is_pack_name(parts[1])) return std::nullopt;
  std::copy(id->begin(), id->end(), ref.id.begin());
  ref.pack = std::string(parts[1]);
  if (!parse_number(parts[2], ref.offset) || !parse_number(parts[3], ref.stored) || !parse_number(parts[4], ref.size)) {
    return std::nullopt;
  }
  return ref;
}

std::string escape_path(std::string_view path) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '%') {
      out.push_back('%');
      out.push_back(digits[byte >> 4]);
      out.push_back(digits[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> unescape_path(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (error != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

std::string secret_text(std::string_view repository_id, base::ByteView secret) {
  return std::string(secret_format) + "\n" + std::string(repository_id) + "\n" + base::to_hex(secret) + "\n";
}

std::optional<std::vector<std::uint8_t>> parse_secret_text(std::string_view text, std::string_view repository_id) {
  const std::string expected_head = std::string(secret_format) + "\n" + std::string(repository_id) + "\n";
  if (!text.starts_with(expected_head)) return std::nullopt;
  text.remove_prefix(expected_head.size());
  if (text.ends_with('\n')) text.remove_suffix(1);
  auto secret = base::from_hex(text);
  if (!secret || secret->size() != 32) return std::nullopt;
  return secret;
}

}  // namespace medgw::backup
