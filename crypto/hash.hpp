#pragma once
// SHA-256 and HMAC-SHA256 on OpenSSL 3 EVP.
#include <crypto/secure_bytes.hpp>

#include <base/openssl_handles.hpp>

#include <array>
#include <cstdint>
#include <memory>


namespace medgw::crypto {

using Digest256 = std::array<std::uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  void update(ByteView data);
  void update(std::string_view data) { update(as_bytes(data)); }
  // Returns the digest; the object may then be reset() and reused.
  [[nodiscard]] Digest256 finish();
  void reset();

 private:
  base::openssl::MdContext ctx_;
};

[[nodiscard]] Digest256 sha256(ByteView data);
[[nodiscard]] Digest256 hmac_sha256(ByteView key, ByteView data);

}  // namespace medgw::crypto
