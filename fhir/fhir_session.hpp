#pragma once
// Requests to one FHIR server as a fetching `fhir` source makes them: with
// its TLS settings, with a SMART Backend Services token when configured
// (asked again once when the server answers 401), and retrying a 429 or 5xx
// after the server's Retry-After (at most `wait_cap` each, `attempts`
// times) before giving the answer to the caller.
//
// The access token only ever goes to the origin (scheme, host, port) of
// the configured base URL: a status URL, an output file or a redirect on
// another host is asked without it. With an https base URL nothing is asked
// over plain http.
#include <fhir/fhir_http.hpp>
#include <fhir/smart_auth.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace medgw::fhir {

struct SessionSettings {
  std::string base_url;  // the FHIR base, ending in '/'
  TlsSettings tls;
  std::optional<SmartSettings> smart;
  int attempts = 4;                  // per request, for 429 and 5xx
  std::chrono::seconds wait_cap{30};  // longest Retry-After honoured within one request
  std::function<void(std::chrono::seconds)> sleep;  // tests may shorten; default sleeps
};

class FhirSession {
 public:
  explicit FhirSession(SessionSettings settings);

  [[nodiscard]] const std::string& base_url() const noexcept { return settings_.base_url; }
  [[nodiscard]] std::string host() const { return host_of(settings_.base_url); }
  // `request.bearer` is filled here when `token` (a Bulk Data file whose
  // manifest says requiresAccessToken false goes without) and the URL is on
  // the base URL's origin.
  [[nodiscard]] base::Result<HttpResponse> send(HttpRequest request, bool token = true);
  // Waits as the server asked (Retry-After, bounded by wait_cap).
  void wait(const HttpResponse& response, int fallback_seconds);

 private:
  SessionSettings settings_;
  std::string origin_;
  HttpClient http_;
  HttpClient token_http_;
  std::unique_ptr<SmartAuth> auth_;
};

// "HTTP 404" with a PHI-free hint for the statuses people meet.
[[nodiscard]] std::string describe_status(long status);

}  // namespace medgw::fhir
