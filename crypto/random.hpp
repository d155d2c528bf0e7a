#pragma once
#include <cstdint>
#include <span>

namespace medgw::crypto {

// Fills the buffer from OpenSSL's CSPRNG; throws CryptoError if it cannot.
void random_bytes(std::span<std::uint8_t> out);

}  // namespace medgw::crypto
