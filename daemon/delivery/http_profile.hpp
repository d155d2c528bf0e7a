#pragma once
// How every request to the central is made, from central.* in one place
// (DESIGN.md §7 invariant 6): only the configured CA (never the system
// store), peer and host verified, TLS 1.3 (or 1.2 by central.tls_min), the
// client certificate and key (and its password file), SPKI pins, the proxy,
// HTTP/2 over TLS, https only, and stall detection instead of a total timeout.
// The CA, CRL, certificate and key are held in memory by a TlsMaterialSource
// (tls_material.hpp) that follows changes of the files.
#include <daemon/config/config.hpp>
#include <daemon/delivery/tls_material.hpp>

#include <base/log.hpp>

#include <base/result.hpp>

#include <memory>
#include <string>

#include <curl/curl.h>

namespace medgw::daemon {

struct HttpProfile {
  std::string ca;
  std::string cert;          // empty: no client certificate (enrollment)
  std::string key;
  std::string key_password;  // empty: the key is not encrypted
  std::string crl;           // empty: none
  std::string pins;          // "sha256//…;sha256//…", empty: none
  std::string proxy;         // empty: none, and *_proxy environment variables are ignored
  long tls_version = CURL_SSLVERSION_TLSv1_3;

  static constexpr long connect_timeout_s = 30;
  // A transfer slower than 1 B/s for 60 s has stalled; there is no total
  // timeout (a large object on a slow line takes as long as it takes).
  static constexpr long low_speed_limit = 1;
  static constexpr long low_speed_time_s = 60;

  // The files above, in memory; shared by the copies of the profile.
  std::shared_ptr<TlsMaterialSource> tls;

  // Sets the profile's options on `easy` (a new handle: no other options).
  // The profile's TlsMaterialSource must outlive the handle.
  void apply(CURL* easy) const;
};

enum class ClientIdentity { certificate, none };

// The profile for `central`; reads central.key_password_file, and fails
// ("key_password_unreadable") naming it when it cannot be read. The TLS files
// are read when the first request is set up (tls->current() reads them now).
// ClientIdentity::none: no client certificate (enrollment with a ticket).
[[nodiscard]] base::Result<HttpProfile> make_http_profile(const CentralConfig& central,
                                                          ClientIdentity identity = ClientIdentity::certificate,
                                                          const log::Logger& logger = log::Logger(nullptr, "cert"));

}  // namespace medgw::daemon
