#pragma once
// Keyed hash for naming a patient in logs, errors, status and diagnostics
// without revealing the identifier (DESIGN.md §7 invariant 5): "pt:" + the
// first 8 hex digits of HMAC-SHA256(per-install key, patient ID). The key is
// random, kept in state_dir with mode 0600, so the tag cannot be reversed by
// hashing candidate IDs without access to the gateway's state.
#include <crypto/secure_bytes.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace medgw::crypto {

class PatientTagger {
 public:
  static constexpr std::size_t key_size = 32;

  explicit PatientTagger(SecureBytes key);

  // Loads the key file, creating it with a fresh random key on first use.
  // Concurrent first uses by two processes agree on one key.
  [[nodiscard]] static PatientTagger load_or_create(const std::filesystem::path& key_file);

  [[nodiscard]] std::string tag(std::string_view patient_id) const;
  // The whole keyed hash (64 hex digits), for keeping track of a patient in
  // state without their ID (the opt-out register).
  [[nodiscard]] std::string digest(std::string_view patient_id) const;

 private:
  SecureBytes key_;
};

}  // namespace medgw::crypto
