#pragma once
// The options every fetch medgw makes from a hospital system (a PACS's or an
// EHR's REST API) shares: http(s) only, no redirect followed by libcurl (the
// caller decides, so credentials never follow one), TLS 1.2 or later with
// the given CA and client certificate, a connect timeout and a stall limit.
// Header-only: a target that includes it links libcurl itself.
#include <filesystem>
#include <string>

#include <curl/curl.h>

namespace medgw::base::curl {

struct FetchTls {
  std::filesystem::path ca;         // trust only this CA (empty: the system's)
  std::filesystem::path cert, key;  // client certificate, if the server asks for one
};

inline void set_fetch_options(CURL* handle, const std::string& url, const FetchTls& tls) {
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt(handle, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!tls.ca.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, tls.ca.c_str());
  if (!tls.cert.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.cert.c_str());
  if (!tls.key.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.key.c_str());
}

}  // namespace medgw::base::curl
