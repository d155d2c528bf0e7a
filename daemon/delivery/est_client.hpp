#pragma once
// Getting a certificate from the central over EST (docs/certificates.md "The
// wire"): a new EC P-256 key, a CSR for CN=<facility>, one POST to
// simpleenroll (HTTP Basic with a ticket, no client certificate) or
// simplereenroll (mutual TLS with the current certificate), and the checks
// of enrollment.hpp on the answer. Blocking (curl_easy_perform): for the
// command line and for a worker thread, never for the event loop.
#include <daemon/delivery/enrollment.hpp>
#include <daemon/delivery/http_profile.hpp>

#include <base/result.hpp>

#include <atomic>
#include <string>
#include <string_view>

namespace medgw::daemon {

// The URL of `operation` ("simpleenroll") under /.well-known/est/ at the
// origin (scheme, host, port) of `central_url`.
[[nodiscard]] base::Result<std::string> est_url(const std::string& central_url, std::string_view operation);

struct EstError {
  std::string code;     // "est_refused" (the central said no), "est_unreachable", "est_answer_invalid", "issued_*"
  std::string message;  // for people; never the ticket or a key
  long status = 0;      // the central's HTTP status, 0 when none came
  std::string reason;   // the central's one-line reason with a refusal
};

struct IssuedCredentials {
  base::openssl::Pkey key;  // new, never sent
  Certificates chain;       // the certificate, then the CA(s) it was checked against
};

// Asks for a certificate at `url` over `profile`. With `ticket`:
// simpleenroll authenticated by it; without: simplereenroll, authenticated
// by the profile's client certificate. `stop` (may be null) aborts the request.
[[nodiscard]] base::Result<IssuedCredentials, EstError> request_certificate(const HttpProfile& profile,
                                                                            const std::string& url,
                                                                            const std::string& common_name,
                                                                            const EnrollmentTicket* ticket,
                                                                            const std::atomic<bool>* stop = nullptr);

// The first line of a refusal's text/plain body, printable, at most 300 characters.
[[nodiscard]] std::string refusal_reason(std::string_view body);

}  // namespace medgw::daemon
