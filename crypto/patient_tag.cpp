#include <crypto/patient_tag.hpp>

#include <crypto/hash.hpp>
#include <crypto/random.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>

#include <stdexcept>
#include <system_error>

namespace medgw::crypto {
namespace {

constexpr std::string_view key_file_header = "medgw-patient-tag-key/1 ";

SecureBytes parse_key_file(const SecureBytes& content, const std::filesystem::path& file) {
  std::string_view text = as_chars(content);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (!text.starts_with(key_file_header)) {
    throw std::runtime_error(file.string() +
                             " is not a medgw patient-tag key file; restore it from backup or "
                             "remove it to start a new key (tags in old logs will then differ)");
  }
  text.remove_prefix(key_file_header.size());
  auto decoded = base::from_hex(text);
  if (!decoded || decoded->size() != PatientTagger::key_size) {
    throw std::runtime_error(file.string() + " holds a damaged patient-tag key");
  }
  SecureBytes key(decoded->begin(), decoded->end());
  secure_wipe(decoded->data(), decoded->size());
  return key;
}

}  // namespace

PatientTagger::PatientTagger(SecureBytes key) : key_(std::move(key)) {
  if (key_.size() != key_size) throw std::invalid_argument("patient-tag key must be 32 bytes");
}

PatientTagger PatientTagger::load_or_create(const std::filesystem::path& key_file) {
  std::error_code ec;
  if (!std::filesystem::exists(key_file, ec)) {
    SecureBytes key(key_size);
    random_bytes(key);
    SecureString content(key_file_header);
    const std::string hex = base::to_hex(key);
    content.append(hex).push_back('\n');
    try {
      base::create_private_file(key_file, as_bytes(std::string_view(content)));
      return PatientTagger(std::move(key));
    } catch (const std::system_error& error) {
      // Lost a race with another process creating it: use theirs.
      if (error.code() != std::errc::file_exists) throw;
    }
  }
  return PatientTagger(parse_key_file(base::read_private_file(key_file), key_file));
}

std::string PatientTagger::tag(std::string_view patient_id) const {
  const Digest256 mac = hmac_sha256(key_, as_bytes(patient_id));
  return "pt:" + base::to_hex(std::span(mac).first(4));
}

std::string PatientTagger::digest(std::string_view patient_id) const {
  return base::to_hex(hmac_sha256(key_, as_bytes(patient_id)));
}

}  // namespace medgw::crypto
