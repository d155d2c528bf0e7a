#include <crypto/error.hpp>

#include <openssl/err.h>

namespace medgw::crypto {

std::string with_openssl_error(std::string message) {
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    message += " (";
    message += buffer;
    message += ")";
  }
  ERR_clear_error();
  return message;
}

}  // namespace medgw::crypto
