#include <crypto/secure_bytes.hpp>

#include <openssl/crypto.h>

namespace medgw::crypto {

bool equal_constant_time(ByteView a, ByteView b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace medgw::crypto
