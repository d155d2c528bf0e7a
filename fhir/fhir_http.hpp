#pragma once
// HTTP for the `fhir` source's REST and Bulk Data modes (libcurl): one
// request at a time, redirects followed here (at most 5) so that the
// Authorization header goes only to the origin (scheme, host, port) it was
// meant for, never to a host a redirect names (a Bulk Data file server, an
// object store). Bodies go to memory (capped) or to a file. Errors name the
// server's host and what to check, never a patient.
#include <base/result.hpp>

#include <cstdint>
#include <limits>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace medgw::fhir {

struct TlsSettings {
  std::filesystem::path ca;         // trust only this CA (empty: the system's)
  std::filesystem::path cert, key;  // client certificate (mutual TLS), if the server asks for one
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POST body
  std::string bearer;                // access token: sent only to url's origin
  int body_fd = -1;                  // >= 0: a 200 body is written here, else kept in HttpResponse::body
  std::size_t body_limit = 64U << 20;
  std::uint64_t file_limit = std::numeric_limits<std::uint64_t>::max();  // most bytes written to body_fd (error fhir_no_room beyond)
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-case; of the last response
  std::string body;
  std::string url;           // where the last response came from (after redirects)
  std::uint64_t bytes = 0;   // body bytes received (also when written to body_fd)
  std::vector<std::string> redirects;  // the URLs redirected to, in order
};

// "scheme://host:port" of an absolute http(s) URL (default ports made
// explicit), or empty when it is not one.
[[nodiscard]] std::string origin_of(std::string_view url);
// The host of a URL, without user info (for messages).
[[nodiscard]] std::string host_of(std::string_view url);
// Percent-encodes all but unreserved characters (RFC 3986) and those of `keep`.
[[nodiscard]] std::string percent_encode(std::string_view text, std::string_view keep = {});
// Seconds to wait from a Retry-After header (delta-seconds or an HTTP date),
// bounded to [1, 3600]; `fallback` when absent or unreadable.
[[nodiscard]] int retry_after_seconds(const HttpResponse& response, int fallback);

class HttpClient {
 public:
  explicit HttpClient(TlsSettings tls, std::string what = "the FHIR server");
  // Performs the request, following redirects (never from https to http);
  // any HTTP status is a result, only a failed transfer (connect, TLS,
  // write, a downgrade) an error.
  [[nodiscard]] base::Result<HttpResponse> send(const HttpRequest& request) const;

 private:
  [[nodiscard]] base::Result<HttpResponse> once(const HttpRequest& request, const std::string& url,
                                                bool with_bearer) const;
  TlsSettings tls_;
  std::string what_;
};

}  // namespace medgw::fhir
