#include <daemon/delivery/http_profile.hpp>
#include <daemon/delivery/uploader.hpp>

#include <base/private_file.hpp>

#include <fstream>
#include <stdexcept>
#include <utility>

namespace medgw::daemon {

base::Result<HttpProfile> make_http_profile(const CentralConfig& central, ClientIdentity identity,
                                            const log::Logger& logger) {
  HttpProfile profile;
  profile.ca = central.ca.string();
  profile.crl = central.crl.string();
  if (identity == ClientIdentity::certificate) {
    profile.cert = central.cert.string();
    profile.key = central.key.string();
  }
  profile.proxy = central.proxy;
  profile.tls_version = central.tls_min == "1.2" ? CURL_SSLVERSION_TLSv1_2 : CURL_SSLVERSION_TLSv1_3;
  for (const std::string& pin : central.pins) profile.pins += (profile.pins.empty() ? "" : ";") + pin;
  if (!central.key_password_file.empty()) {
    try {
      const base::SecureBytes bytes = base::read_private_file(central.key_password_file);
      profile.key_password.assign(bytes.begin(), bytes.end());
    } catch (const std::exception& error) {
      return base::fail("key_password_unreadable", std::string("central.key_password_file: ") + error.what());
    }
    while (!profile.key_password.empty() && (profile.key_password.back() == '\n' || profile.key_password.back() == '\r')) {
      profile.key_password.pop_back();
    }
  }
  profile.tls = std::make_shared<TlsMaterialSource>(
      TlsFiles{profile.ca, profile.crl, profile.cert, profile.key, profile.key_password}, logger);
  return profile;
}

void HttpProfile::apply(CURL* easy) const {
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  // Only the configured private CA, never the system store; the client
  // certificate and key from memory (tls_material.hpp).
  if (!tls) throw std::logic_error("HttpProfile without TLS material: make it with make_http_profile()");
  tls->apply(easy);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(easy, CURLOPT_SSLVERSION, tls_version);
  if (!pins.empty()) curl_easy_setopt(easy, CURLOPT_PINNEDPUBLICKEY, pins.c_str());
  // An empty proxy also ignores *_proxy environment variables.
  curl_easy_setopt(easy, CURLOPT_PROXY, proxy.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
  // Stall detection, never a total-transfer timeout.
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, low_speed_limit);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, low_speed_time_s);
}

void check_client_credentials(const CentralConfig& central) {
  for (const auto& [key, file] : {std::pair{"central.ca", central.ca}, {"central.cert", central.cert}}) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(std::string(key) + ": cannot read " + file.string());
  }
  // Throws naming the file and the chmod that fixes it.
  base::require_private_mode(central.key);
  if (!central.key_password_file.empty()) base::require_private_mode(central.key_password_file);
}

}  // namespace medgw::daemon
