#include <crypto/error.hpp>
#include <crypto/random.hpp>

#include <climits>

#include <openssl/rand.h>

namespace medgw::crypto {

void random_bytes(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    const std::size_t step = std::min<std::size_t>(out.size(), INT_MAX);
    if (RAND_bytes(out.data(), static_cast<int>(step)) != 1) {
      throw CryptoError("the system random generator failed (OpenSSL RAND_bytes)");
    }
    out = out.subspan(step);
  }
}

}  // namespace medgw::crypto
