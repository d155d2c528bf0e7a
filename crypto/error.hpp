#pragma once
#include <stdexcept>
#include <string>

namespace medgw::crypto {

// A failure of the cryptographic machinery itself (OpenSSL refused an
// operation, the RNG failed). Malformed input is reported through result
// types instead, because it is expected.
class CryptoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends OpenSSL's queued error text to a message and clears the queue.
[[nodiscard]] std::string with_openssl_error(std::string message);

}  // namespace medgw::crypto
