#pragma once
// SMART Backend Services (SMART App Launch 2.x, "client-confidential-
// asymmetric"): medgw proves itself to the FHIR server's token endpoint with
// a JWT client assertion signed by its own key (ES384 with an EC P-384 key,
// RS384 with an RSA key of 2048 bits or more; OpenSSL signs), and gets a
// short-lived bearer token, kept until a minute before it expires. The
// hospital registers medgw's public key (or a JWKS URL) at its EHR.
#include <fhir/fhir_http.hpp>

#include <base/result.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace medgw::fhir {

struct SmartSettings {
  std::string token_url;
  std::string client_id;
  std::filesystem::path signing_key;  // PEM private key, mode 0600
  std::string key_id;                 // "kid" of the JWT header, as registered (may be empty)
  std::string scope = "system/*.read";
};

// The signed client assertion: header {alg, typ, kid}, claims {iss, sub =
// client_id, aud = token_url, exp = now + 5 min, jti random}. Errors name
// the key file and what is wrong with it.
[[nodiscard]] base::Result<std::string> client_assertion(const SmartSettings& settings,
                                                         std::chrono::system_clock::time_point now);

class SmartAuth {
 public:
  SmartAuth(SmartSettings settings, const HttpClient& http);
  // A valid access token, asking the token endpoint when none is held or it
  // expires within a minute.
  [[nodiscard]] base::Result<std::string> token();
  // Forget the token (the server answered 401 with it).
  void forget() { expires_ = {}; }

 private:
  SmartSettings settings_;
  const HttpClient& http_;
  std::string token_;
  std::chrono::steady_clock::time_point expires_{};
};

}  // namespace medgw::fhir
