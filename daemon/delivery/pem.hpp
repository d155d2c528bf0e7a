#pragma once
// PEM in and out of memory for the gateway's TLS credentials: certificate
// chains, CRLs and private keys (an encrypted key is opened with its
// password, never by asking a terminal).
#include <base/openssl_handles.hpp>
#include <base/result.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace medgw::daemon {

using Certificates = std::vector<base::openssl::X509Cert>;

// Every certificate in `pem`, in order (none: an empty vector).
[[nodiscard]] Certificates read_certificates(std::string_view pem);
// Every CRL in `pem`.
[[nodiscard]] std::vector<base::openssl::X509Crl> read_crls(std::string_view pem);
// The private key in `pem`; `password` opens an encrypted one (empty: none).
// Null when there is none or it cannot be opened.
[[nodiscard]] base::openssl::Pkey read_private_key(std::string_view pem, const std::string& password);

[[nodiscard]] std::string certificates_pem(const Certificates& certificates);
// PKCS#8, not encrypted: the file's mode (0600) protects it.
[[nodiscard]] std::string private_key_pem(EVP_PKEY* key);

// Whether `certificate` holds the public half of `key`.
[[nodiscard]] bool certificate_matches_key(X509* certificate, EVP_PKEY* key);
// The subject's commonName ("" when there is none).
[[nodiscard]] std::string subject_common_name(X509* certificate);

// A file read whole ("" plus false when it cannot be read).
[[nodiscard]] bool read_text_file(const std::string& file, std::string& text);

}  // namespace medgw::daemon
