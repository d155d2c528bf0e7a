#include <crypto/x25519.hpp>

#include <crypto/error.hpp>
#include <crypto/random.hpp>

#include <base/openssl_handles.hpp>

#include <algorithm>
#include <memory>

#include <openssl/evp.h>

namespace medgw::crypto {
namespace {

using base::openssl::Pkey;
using base::openssl::PkeyContext;

Pkey x25519_private_key(ByteView secret) {
  if (secret.size() != x25519_key_size) throw CryptoError("X25519 secret must be 32 bytes");
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
  if (!key) throw CryptoError(with_openssl_error("cannot load an X25519 secret"));
  return key;
}

}  // namespace

SecureBytes x25519_generate_secret() {
  SecureBytes secret(x25519_key_size);
  random_bytes(secret);
  return secret;
}

X25519PublicKey x25519_public_key(ByteView secret) {
  const Pkey key = x25519_private_key(secret);
  X25519PublicKey out{};
  std::size_t length = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &length) != 1 || length != out.size()) {
    throw CryptoError(with_openssl_error("cannot compute an X25519 public key"));
  }
  return out;
}

std::optional<SecureBytes> x25519_shared_secret(ByteView secret, ByteView peer_public) {
  if (peer_public.size() != x25519_key_size) return std::nullopt;
  const Pkey key = x25519_private_key(secret);
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), peer_public.size()));
  if (!peer) return std::nullopt;
  PkeyContext ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    throw CryptoError(with_openssl_error("X25519 setup failed"));
  }
  SecureBytes shared(x25519_key_size);
  std::size_t length = shared.size();
  // OpenSSL fails the derivation when the result is all zeros.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &length) != 1 || length != shared.size()) {
    return std::nullopt;
  }
  if (std::all_of(shared.begin(), shared.end(), [](std::uint8_t b) { return b == 0; })) return std::nullopt;
  return shared;
}

}  // namespace medgw::crypto
