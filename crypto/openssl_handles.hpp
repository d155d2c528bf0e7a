#pragma once
// RAII for the OpenSSL handles crypto/ uses (internal to this layer).
#include <memory>

#include <openssl/evp.h>

namespace medgw::crypto::openssl {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct PkeyContextDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct MdContextDeleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyContext = std::unique_ptr<EVP_PKEY_CTX, PkeyContextDeleter>;
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;

}  // namespace medgw::crypto::openssl
