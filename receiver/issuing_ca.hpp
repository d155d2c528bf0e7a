#pragma once
// The enrollment service's certificate authority (issue 22,
// docs/certificates.md): checks a gateway's CSR, issues its client
// certificate bound to a facility (CN=<code>, O=medgw gateway, clientAuth),
// answers in PKCS#7 certs-only as EST does, and signs the CRL. The CSR's own
// subject and extensions are never copied. OpenSSL does the cryptography.
#include <base/result.hpp>

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::receiver {

using Der = std::vector<std::uint8_t>;

// A CSR that passed read_csr: its public key (DER SubjectPublicKeyInfo) and
// the request itself (PEM, for an external signer).
struct CheckedCsr {
  Der public_key;
  std::string pem;
  std::string key_kind;  // "EC P-256", "RSA 3072", "Ed25519"
};

// An issued certificate and what the registry keeps of it.
struct IssuedCertificate {
  Der der;
  std::string serial;  // upper-case hex
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
};

struct RevokedSerial {
  std::string serial;  // hex
  std::int64_t revoked_ms = 0;
};

// A client certificate as the TLS session presented it.
struct PeerCertificate {
  std::string serial;  // upper-case hex; empty: no certificate
  std::int64_t not_before_ms = 0;
  std::int64_t not_after_ms = 0;
  Der public_key;
};

// Serial, validity and key of a certificate.
[[nodiscard]] PeerCertificate describe_certificate(const X509* certificate);
// A DER CRL in PEM (data_dir/crl.pem), or empty when it is not a CRL.
[[nodiscard]] std::string crl_pem(std::span<const std::uint8_t> der);
// Base64 with line breaks (EST bodies), to bytes; nullopt for anything else.
[[nodiscard]] std::optional<Der> decode_est_base64(std::string_view text);
// Base64 in 64-character lines, CRLF-free (EST answers).
[[nodiscard]] std::string encode_est_base64(std::span<const std::uint8_t> der);

class IssuingCa {
 public:
  struct Options {
    std::filesystem::path cert;     // PEM: the CA certificate (first) and any chain above it
    std::filesystem::path key;      // PEM private key (mode 0600); empty with an external command
    std::chrono::seconds validity{90 * 86400};
  };
  // Throws std::runtime_error naming the file when either cannot be read or
  // they do not belong together.
  explicit IssuingCa(const Options& options);
  ~IssuingCa();
  IssuingCa(IssuingCa&&) noexcept;
  IssuingCa& operator=(IssuingCa&&) noexcept;

  // The CSR (DER) checked: its signature, a strong key (RSA >= 2048 bits, EC
  // P-256/P-384/P-521, Ed25519), and a subject CN that is `facility` or
  // absent. The error message is one line for the client (a 400).
  [[nodiscard]] base::Result<CheckedCsr> check_csr(std::span<const std::uint8_t> der, std::string_view facility) const;
  // A new certificate for the CSR's key, valid from a minute ago for
  // `validity`. Needs the CA key.
  [[nodiscard]] base::Result<IssuedCertificate> issue(const CheckedCsr& csr, std::string_view facility) const;
  // A certificate an external signer made: it must carry the CSR's key,
  // CN=facility and chain to this CA.
  [[nodiscard]] base::Result<IssuedCertificate> accept_signed(const CheckedCsr& csr, std::string_view facility,
                                                              std::string_view pem) const;
  // PKCS#7 certs-only (DER): `leaf` (when not empty), then the CA chain.
  [[nodiscard]] Der certs_only(std::span<const std::uint8_t> leaf) const;
  // The CRL (DER) listing `revoked`, valid until `next_update`. Needs the key.
  [[nodiscard]] base::Result<Der> crl(const std::vector<RevokedSerial>& revoked, std::chrono::seconds next_update) const;
  [[nodiscard]] bool can_sign() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace medgw::receiver
