#include <daemon/media/media_cipher.hpp>

#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/openssl_handles.hpp>

#include <stdexcept>

#include <openssl/evp.h>

namespace medgw::media {
namespace {

constexpr std::string_view aad_prefix = "medgw-media/1:";

[[noreturn]] void openssl_failed(const char* what) { throw std::runtime_error(std::string("OpenSSL: ") + what); }

std::string associated_data(std::string_view name) { return std::string(aad_prefix) + std::string(name); }

}  // namespace

MediaCipher MediaCipher::derive(std::string_view passphrase, std::uint32_t iterations) {
  std::array<std::uint8_t, salt_size> salt{};
  crypto::random_bytes(salt);
  return derive(passphrase, salt, iterations);
}

MediaCipher MediaCipher::derive(std::string_view passphrase, const std::array<std::uint8_t, salt_size>& salt,
                                std::uint32_t iterations) {
  base::SecureBytes key(key_size);
  if (PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(key.size()), key.data()) != 1) {
    openssl_failed("PBKDF2 failed");
  }
  return MediaCipher(std::move(key), salt, iterations);
}

std::string MediaCipher::seal(std::string_view name, std::string_view plaintext) const {
  std::string out(iv_size + plaintext.size() + tag_size, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  crypto::random_bytes(std::span<std::uint8_t>(bytes, iv_size));
  base::openssl::CipherContext ctx(EVP_CIPHER_CTX_new());
  const std::string aad = associated_data(name);
  int length = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv_size), nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), bytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + iv_size, &length, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + iv_size + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                          bytes + iv_size + plaintext.size()) != 1) {
    openssl_failed("AES-256-GCM encryption failed");
  }
  return base::base64_encode(base::as_bytes(out), true);
}

std::optional<std::string> MediaCipher::open(std::string_view name, std::string_view sealed) const {
  const auto raw = base::base64_decode_padded(sealed);
  if (!raw || raw->size() < iv_size + tag_size) return std::nullopt;
  const std::size_t size = raw->size() - iv_size - tag_size;
  std::string plaintext(size, '\0');
  base::openssl::CipherContext ctx(EVP_CIPHER_CTX_new());
  const std::string aad = associated_data(name);
  std::vector<std::uint8_t> tag(raw->end() - static_cast<long>(tag_size), raw->end());
  int length = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv_size), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), raw->data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &length,
                        raw->data() + iv_size, static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size), tag.data()) != 1) {
    return std::nullopt;
  }
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + length, &length) != 1) {
    return std::nullopt;
  }
  return plaintext;
}

}  // namespace medgw::media
