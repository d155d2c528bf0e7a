#pragma once
// The gateway's side of EST (RFC 7030 subset, docs/certificates.md "The
// wire") without sockets: the enrollment ticket file, a new EC P-256 key and
// its PKCS#10 request, and the check of the central's answer (a base64 DER
// PKCS#7 certs-only: the new certificate first, then the issuing CA).
#include <daemon/delivery/pem.hpp>

#include <base/bytes.hpp>
#include <base/result.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace medgw::daemon {

// A ticket file as `medgw-receiver ticket` writes it ('#' lines are comments).
struct EnrollmentTicket {
  std::string facility;
  std::string ticket;  // secret: never logged, never in an error
};
// `name` is the file's name for the errors (which never quote the ticket).
[[nodiscard]] base::Result<EnrollmentTicket> parse_ticket(std::string_view text, const std::string& name);

[[nodiscard]] base::openssl::Pkey generate_p256_key();
// A PKCS#10 request (DER) for `key` with subject CN=`common_name`, signed with SHA-256.
[[nodiscard]] std::string make_csr_der(EVP_PKEY* key, const std::string& common_name);

// The certificates of an EST answer body (base64 of a DER PKCS#7 signedData
// certs-only; line breaks allowed), in order.
[[nodiscard]] base::Result<Certificates> parse_est_certificates(std::string_view body);

// Checks an answer's certificates: the first is for `key`, has CN
// `common_name` and verifies (now, for client authentication) against the
// others, which are returned after it as its chain.
[[nodiscard]] base::Result<Certificates> check_issued(Certificates certificates, EVP_PKEY* key,
                                                      const std::string& common_name);

// A certificate's validity (notBefore, notAfter).
struct Validity {
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};
[[nodiscard]] Validity certificate_validity(X509* certificate);
// The certificate's serial number in hex (as `medgw-receiver certs` shows it).
[[nodiscard]] std::string certificate_serial(X509* certificate);

}  // namespace medgw::daemon
