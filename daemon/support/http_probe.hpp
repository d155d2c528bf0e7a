#pragma once
// The network steps of `medgw doctor` and the status pages of `medgw diag`,
// each with its own deadline: name resolution, a TCP connection, one HTTPS
// request to the central with exactly the TLS settings of the uploads
// (central.ca only, peer and host verified, client certificate, pins,
// proxy, TLS minimum), and plain HTTP to the local status server.
#include <daemon/config/config.hpp>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

namespace medgw::daemon {

struct Endpoint {
  std::string host;  // without brackets
  std::string port;  // digits
};
// scheme://[user:password@]host[:port]/... ; `default_port` when none is given.
[[nodiscard]] bool parse_endpoint(std::string_view url, std::string_view default_port, Endpoint& out);

struct Resolved {
  std::vector<sockaddr_storage> addresses;
  std::string first;   // the first address as text
  std::string error;   // set when nothing was resolved
};
[[nodiscard]] Resolved resolve_host(const Endpoint& endpoint, std::chrono::milliseconds deadline);

// Connects to the first address that accepts; empty on success, else why not.
[[nodiscard]] std::string connect_tcp(const Resolved& resolved, std::chrono::milliseconds deadline,
                                      std::chrono::milliseconds& took);

// What one request gave: curl's result and what the server said.
struct Exchange {
  int curl_code = 0;           // CURLcode
  std::string error;           // curl's error buffer (or its strerror)
  long http_status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::chrono::system_clock::time_point answered_at;
};

// OPTIONS central.url with the uploads' TLS settings. `password` unlocks an
// encrypted central.key (read by the caller from central.key_password_file).
[[nodiscard]] Exchange options_request(const CentralConfig& central, const std::string& password,
                                       std::chrono::milliseconds deadline);

// GET http://<status.listen><path> (0.0.0.0 and [::] are asked on loopback);
// no proxy; at most `max_body` bytes.
struct LocalPage {
  bool answered = false;
  long status = 0;
  std::string body;
  std::string error;
};
[[nodiscard]] LocalPage fetch_status_page(const std::string& listen, std::string_view path,
                                          std::chrono::milliseconds deadline, std::size_t max_body = 8u << 20);

}  // namespace medgw::daemon
