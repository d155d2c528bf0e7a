#pragma once
// ChaCha20-Poly1305 (RFC 8439) on a reusable OpenSSL 3 EVP context, plus the
// KDFs age needs: HKDF-SHA256 and scrypt.
#include <crypto/secure_bytes.hpp>

#include <base/openssl_handles.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>


namespace medgw::crypto {

inline constexpr std::size_t aead_key_size = 32;
inline constexpr std::size_t aead_nonce_size = 12;
inline constexpr std::size_t aead_tag_size = 16;

class ChaCha20Poly1305 {
 public:
  explicit ChaCha20Poly1305(ByteView key);
  ChaCha20Poly1305(ChaCha20Poly1305&&) noexcept;
  ChaCha20Poly1305& operator=(ChaCha20Poly1305&&) noexcept;
  ~ChaCha20Poly1305();

  // out must hold plaintext.size() + 16 bytes (ciphertext then tag).
  void seal(const std::array<std::uint8_t, aead_nonce_size>& nonce, ByteView plaintext, std::uint8_t* out);
  // in = ciphertext then tag; out must hold in.size() - 16 bytes. False when
  // the tag does not verify (out then holds nothing usable).
  [[nodiscard]] bool open(const std::array<std::uint8_t, aead_nonce_size>& nonce, ByteView in, std::uint8_t* out);

 private:
  base::openssl::CipherContext encrypt_;
  base::openssl::CipherContext decrypt_;
};

[[nodiscard]] SecureBytes hkdf_sha256(ByteView key, ByteView salt, std::string_view info, std::size_t length);

// scrypt with r = 8, p = 1 as age uses it; log2_n is the work factor.
[[nodiscard]] SecureBytes scrypt(ByteView passphrase, ByteView salt, int log2_n, std::size_t length);

}  // namespace medgw::crypto
