#include <crypto/hash.hpp>

#include <crypto/error.hpp>

#include <openssl/evp.h>

namespace medgw::crypto {


Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw CryptoError("out of memory creating a SHA-256 context");
  reset();
}
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::reset() {
  if (EVP_DigestInit_ex2(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw CryptoError(with_openssl_error("SHA-256 init failed"));
  }
}

void Sha256::update(ByteView data) {
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    throw CryptoError(with_openssl_error("SHA-256 update failed"));
  }
}

Digest256 Sha256::finish() {
  Digest256 out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &length) != 1 || length != out.size()) {
    throw CryptoError(with_openssl_error("SHA-256 final failed"));
  }
  return out;
}

Digest256 sha256(ByteView data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

Digest256 hmac_sha256(ByteView key, ByteView data) {
  Digest256 out{};
  std::size_t length = 0;
  static const std::uint8_t empty = 0;
  // EVP_Q_mac rejects a null key pointer even for a zero-length key.
  const std::uint8_t* key_data = key.empty() ? &empty : key.data();
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_data, key.size(),
                data.empty() ? &empty : data.data(), data.size(), out.data(), out.size(),
                &length) == nullptr ||
      length != out.size()) {
    throw CryptoError(with_openssl_error("HMAC-SHA256 failed"));
  }
  return out;
}

}  // namespace medgw::crypto
