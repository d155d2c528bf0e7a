#pragma once
// The encryption of the viewer's data (DATA/): AES-256-GCM with a key from
// the passphrase by PBKDF2-HMAC-SHA256 (a random 16-byte salt, 600,000
// iterations or more), which the viewer repeats with WebCrypto
// (crypto.subtle, allowed on file://). One sealed item is
//   base64( iv (12 random bytes) || ciphertext || tag (16 bytes) )
// authenticated with the additional data "medgw-media/1:" + its name, so an
// item cannot be passed off as another. DATA/KEY.JS holds, in clear, the salt,
// the iteration count and a sealed known text ("check") that tells a wrong
// passphrase at once; none of it is patient data.
#include <base/bytes.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::media {

inline constexpr std::uint32_t pbkdf2_iterations = 600'000;
inline constexpr std::string_view check_name = "check";
inline constexpr std::string_view check_text = "medgw-media/1 passphrase check";

class MediaCipher {
 public:
  static constexpr std::size_t salt_size = 16;
  static constexpr std::size_t key_size = 32;
  static constexpr std::size_t iv_size = 12;
  static constexpr std::size_t tag_size = 16;

  // A new random salt; derives the key (about half a second).
  [[nodiscard]] static MediaCipher derive(std::string_view passphrase, std::uint32_t iterations = pbkdf2_iterations);
  [[nodiscard]] static MediaCipher derive(std::string_view passphrase, const std::array<std::uint8_t, salt_size>& salt,
                                          std::uint32_t iterations);

  // base64(iv || ciphertext || tag) of `plaintext` under the name `name`.
  [[nodiscard]] std::string seal(std::string_view name, std::string_view plaintext) const;
  // The plaintext, or nullopt when the item does not authenticate (a wrong
  // passphrase, another name, a changed byte).
  [[nodiscard]] std::optional<std::string> open(std::string_view name, std::string_view sealed) const;

  [[nodiscard]] const std::array<std::uint8_t, salt_size>& salt() const noexcept { return salt_; }
  [[nodiscard]] std::uint32_t iterations() const noexcept { return iterations_; }

 private:
  MediaCipher(base::SecureBytes key, const std::array<std::uint8_t, salt_size>& salt, std::uint32_t iterations)
      : key_(std::move(key)), salt_(salt), iterations_(iterations) {}
  base::SecureBytes key_;
  std::array<std::uint8_t, salt_size> salt_{};
  std::uint32_t iterations_ = 0;
};

}  // namespace medgw::media
