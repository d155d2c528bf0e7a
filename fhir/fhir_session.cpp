#include <fhir/fhir_session.hpp>

#include <algorithm>
#include <thread>

namespace medgw::fhir {

FhirSession::FhirSession(SessionSettings settings)
    : settings_(std::move(settings)),
      origin_(origin_of(settings_.base_url)),
      http_(settings_.tls, "the FHIR server"),
      token_http_(settings_.tls, "the token endpoint") {
  if (!settings_.base_url.empty() && settings_.base_url.back() != '/') settings_.base_url.push_back('/');
  if (settings_.smart) auth_ = std::make_unique<SmartAuth>(*settings_.smart, token_http_);
  if (!settings_.sleep) settings_.sleep = [](std::chrono::seconds span) { std::this_thread::sleep_for(span); };
}

void FhirSession::wait(const HttpResponse& response, int fallback_seconds) {
  const int seconds = retry_after_seconds(response, fallback_seconds);
  settings_.sleep(std::min(std::chrono::seconds(seconds), settings_.wait_cap));
}

base::Result<HttpResponse> FhirSession::send(HttpRequest request, bool token) {
  const std::string origin = origin_of(request.url);
  if (origin_.starts_with("https:") && !origin.starts_with("https:")) {
    return base::fail("fhir_http", "the FHIR server at " + host() + " named a plain http URL (" + host_of(request.url) +
                                       "); medgw reads an https server over https only");
  }
  token = token && origin == origin_;  // the token never leaves the server's own origin
  bool asked_again = false;
  for (int attempt = 1;; ++attempt) {
    if (auth_ && token) {
      auto bearer = auth_->token();
      if (!bearer) return base::fail(bearer.error());
      request.bearer = *bearer;
    }
    auto response = http_.send(request);
    if (!response) return response;
    const long status = response->status;
    if (status == 401 && auth_ && token && !asked_again) {
      auth_->forget();  // expired or revoked early: one new token
      asked_again = true;
      continue;
    }
    if ((status == 429 || status >= 500) && attempt < settings_.attempts) {
      wait(*response, std::min(1 << attempt, 30));
      continue;
    }
    return response;
  }
}

std::string describe_status(long status) {
  std::string text = "HTTP " + std::to_string(status);
  if (status == 401 || status == 403) {
    return text + ": medgw was refused; check the client certificate (cert, key) or the SMART settings (client_id, "
                  "signing_key registered at the server, scope)";
  }
  if (status == 404) return text + ": check url (the FHIR base, e.g. https://ehr.example.local/fhir/R4/)";
  if (status == 429 || status >= 500) return text + ": the server is busy or failing; medgw tries again next pass";
  return text;
}

}  // namespace medgw::fhir
