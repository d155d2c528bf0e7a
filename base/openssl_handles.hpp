#pragma once
// RAII for OpenSSL handles: one deleter per handle type, defined here only.
// Header-only: a target that includes it links OpenSSL itself.
#include <cstdio>
#include <base/c_handle.hpp>

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace medgw::base::openssl {

using Pkey = CHandle<EVP_PKEY, EVP_PKEY_free>;
using PkeyContext = CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdContext = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherContext = CHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using X509Cert = CHandle<X509, X509_free>;
using Bio = CHandle<BIO, BIO_free_all>;
using X509Crl = CHandle<X509_CRL, X509_CRL_free>;
using X509Request = CHandle<X509_REQ, X509_REQ_free>;
using X509Store = CHandle<X509_STORE, X509_STORE_free>;
using X509StoreContext = CHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using Pkcs7 = CHandle<PKCS7, PKCS7_free>;

// A FILE* for PEM_read_* (closed with the handle).
struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace medgw::base::openssl
