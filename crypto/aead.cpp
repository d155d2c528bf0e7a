#include <crypto/aead.hpp>

#include <crypto/error.hpp>

#include <climits>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

namespace medgw::crypto {
namespace {

// Fetched once: implicit fetching per call costs a lock and a lookup.
EVP_CIPHER* chacha_cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  if (cipher == nullptr) throw CryptoError(with_openssl_error("OpenSSL has no ChaCha20-Poly1305"));
  return cipher;
}

EVP_KDF* fetch_kdf(const char* name) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  if (kdf == nullptr) throw CryptoError(with_openssl_error(std::string("OpenSSL has no ") + name));
  return kdf;
}

struct KdfContext {
  explicit KdfContext(EVP_KDF* kdf) : ctx(EVP_KDF_CTX_new(kdf)) {
    if (ctx == nullptr) throw CryptoError(with_openssl_error("cannot create a KDF context"));
  }
  KdfContext(const KdfContext&) = delete;
  KdfContext& operator=(const KdfContext&) = delete;
  ~KdfContext() { EVP_KDF_CTX_free(ctx); }
  EVP_KDF_CTX* ctx;
};

void* as_param(const void* data) { return const_cast<void*>(data); }

EVP_CIPHER_CTX* new_context(ByteView key, bool encrypt) {
  if (key.size() != aead_key_size) throw CryptoError("ChaCha20-Poly1305 needs a 32-byte key");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) throw CryptoError("out of memory creating a cipher context");
  const int ok = encrypt ? EVP_EncryptInit_ex2(ctx, chacha_cipher(), key.data(), nullptr, nullptr)
                         : EVP_DecryptInit_ex2(ctx, chacha_cipher(), key.data(), nullptr, nullptr);
  if (ok != 1) {
    EVP_CIPHER_CTX_free(ctx);
    throw CryptoError(with_openssl_error("ChaCha20-Poly1305 init failed"));
  }
  return ctx;
}

}  // namespace


ChaCha20Poly1305::ChaCha20Poly1305(ByteView key) : encrypt_(new_context(key, true)), decrypt_(new_context(key, false)) {}
ChaCha20Poly1305::ChaCha20Poly1305(ChaCha20Poly1305&&) noexcept = default;
ChaCha20Poly1305& ChaCha20Poly1305::operator=(ChaCha20Poly1305&&) noexcept = default;
ChaCha20Poly1305::~ChaCha20Poly1305() = default;

void ChaCha20Poly1305::seal(const std::array<std::uint8_t, aead_nonce_size>& nonce, ByteView plaintext, std::uint8_t* out) {
  EVP_CIPHER_CTX* ctx = encrypt_.get();
  int written = 0;
  int final_written = 0;
  if (plaintext.size() > INT_MAX ||
      EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1 ||
      (!plaintext.empty() &&
       EVP_EncryptUpdate(ctx, out, &written, plaintext.data(), static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx, out + written, &final_written) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(aead_tag_size), out + plaintext.size()) != 1) {
    throw CryptoError(with_openssl_error("ChaCha20-Poly1305 encryption failed"));
  }
}

bool ChaCha20Poly1305::open(const std::array<std::uint8_t, aead_nonce_size>& nonce, ByteView in, std::uint8_t* out) {
  if (in.size() < aead_tag_size || in.size() > INT_MAX) return false;
  EVP_CIPHER_CTX* ctx = decrypt_.get();
  const std::size_t length = in.size() - aead_tag_size;
  int written = 0;
  int final_written = 0;
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
    throw CryptoError(with_openssl_error("ChaCha20-Poly1305 init failed"));
  }
  if (length > 0 && EVP_DecryptUpdate(ctx, out, &written, in.data(), static_cast<int>(length)) != 1) {
    throw CryptoError(with_openssl_error("ChaCha20-Poly1305 decryption failed"));
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(aead_tag_size),
                          const_cast<std::uint8_t*>(in.data() + length)) != 1) {
    throw CryptoError(with_openssl_error("ChaCha20-Poly1305 tag setup failed"));
  }
  const bool authentic = EVP_DecryptFinal_ex(ctx, out + written, &final_written) == 1;
  if (!authentic) secure_wipe(out, length);
  return authentic;
}

SecureBytes hkdf_sha256(ByteView key, ByteView salt, std::string_view info, std::size_t length) {
  static EVP_KDF* kdf = fetch_kdf("HKDF");
  KdfContext context(kdf);
  static const std::uint8_t empty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, as_param(key.empty() ? &empty : key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, as_param(salt.empty() ? &empty : salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, as_param(info.data()), info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecureBytes out(length);
  if (EVP_KDF_derive(context.ctx, out.data(), out.size(), params) != 1) {
    throw CryptoError(with_openssl_error("HKDF-SHA256 failed"));
  }
  return out;
}

SecureBytes scrypt(ByteView passphrase, ByteView salt, int log2_n, std::size_t length) {
  static EVP_KDF* kdf = fetch_kdf("SCRYPT");
  KdfContext context(kdf);
  std::uint64_t n = std::uint64_t{1} << log2_n;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
  // scrypt needs 128 * r * N bytes; OpenSSL refuses more than 32 MiB unless told.
  std::uint64_t max_memory = 128ULL * r * n + (16ULL << 20);
  static const std::uint8_t empty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, as_param(passphrase.empty() ? &empty : passphrase.data()), passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, as_param(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory),
      OSSL_PARAM_construct_end(),
  };
  SecureBytes out(length);
  if (EVP_KDF_derive(context.ctx, out.data(), out.size(), params) != 1) {
    throw CryptoError(with_openssl_error("scrypt failed (not enough memory for work factor " + std::to_string(log2_n) + "?)"));
  }
  return out;
}

}  // namespace medgw::crypto
