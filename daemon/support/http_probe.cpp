#include <daemon/support/http_probe.hpp>

#include <base/curl_handles.hpp>
#include <base/unique_fd.hpp>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

struct Lookup {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  int code = 0;
  std::vector<sockaddr_storage> addresses;
};

std::string address_text(const sockaddr_storage& address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* raw = address.ss_family == AF_INET6
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(address).sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(address).sin_addr);
  if (::inet_ntop(address.ss_family, raw, text.data(), text.size()) == nullptr) return "?";
  return text.data();
}

struct Received {
  std::string body;
  std::size_t max_body = 0;
  std::map<std::string, std::string> headers;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& received = *static_cast<Received*>(user);
  const std::size_t bytes = size * count;
  const std::size_t room = received.max_body - std::min(received.max_body, received.body.size());
  received.body.append(data, std::min(room, bytes));
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& received = *static_cast<Received*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) received.headers.clear();  // a new response (after a proxy's)
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    received.headers[name] = std::string(value);
  }
  return size * count;
}

}  // namespace

bool parse_endpoint(std::string_view url, std::string_view default_port, Endpoint& out) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    out.port = authority.starts_with(':') ? std::string(authority.substr(1)) : std::string(default_port);
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    out.port = colon == std::string_view::npos ? std::string(default_port) : std::string(authority.substr(colon + 1));
  }
  return !out.host.empty() && !out.port.empty() &&
         out.port.find_first_not_of("0123456789") == std::string::npos;
}

Resolved resolve_host(const Endpoint& endpoint, std::chrono::milliseconds deadline) {
  auto lookup = std::make_shared<Lookup>();
  // getaddrinfo has no deadline of its own: it runs on a thread that may
  // outlive the wait (it then finishes into the shared state and ends).
  std::thread([lookup, host = endpoint.host, port = endpoint.port] {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    const int code = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    std::vector<sockaddr_storage> addresses;
    for (const addrinfo* entry = found; code == 0 && entry != nullptr; entry = entry->ai_next) {
      sockaddr_storage address{};
      std::memcpy(&address, entry->ai_addr, std::min<std::size_t>(entry->ai_addrlen, sizeof address));
      addresses.push_back(address);
    }
    if (found != nullptr) ::freeaddrinfo(found);
    const std::lock_guard lock(lookup->mutex);
    lookup->code = code;
    lookup->addresses = std::move(addresses);
    lookup->done = true;
    lookup->done_signal.notify_all();
  }).detach();
  Resolved resolved;
  std::unique_lock lock(lookup->mutex);
  if (!lookup->done_signal.wait_for(lock, deadline, [&] { return lookup->done; })) {
    resolved.error = "no answer from the name servers within " + std::to_string(deadline.count() / 1000) + " s";
    return resolved;
  }
  if (lookup->code != 0 || lookup->addresses.empty()) {
    resolved.error = lookup->code != 0 ? ::gai_strerror(lookup->code) : "no address";
    return resolved;
  }
  resolved.addresses = lookup->addresses;
  resolved.first = address_text(resolved.addresses.front());
  return resolved;
}

std::string connect_tcp(const Resolved& resolved, std::chrono::milliseconds deadline, std::chrono::milliseconds& took) {
  const auto started = std::chrono::steady_clock::now();
  std::string last_error = "no address to connect to";
  for (const sockaddr_storage& address : resolved.addresses) {
    base::UniqueFd socket_fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket_fd) return std::strerror(errno);
    const socklen_t length = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    int result = ::connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&address), length);
    if (result != 0 && errno == EINPROGRESS) {
      const auto left = deadline - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      pollfd waiting{socket_fd.get(), POLLOUT, 0};
      if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) {
        last_error = "no answer within " + std::to_string(deadline.count() / 1000) + " s (a firewall dropping packets?)";
        continue;
      }
      int error = 0;
      socklen_t size = sizeof error;
      ::getsockopt(socket_fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
      result = error == 0 ? 0 : -1;
      errno = error;
    }
    if (result == 0) {
      took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      return {};
    }
    last_error = std::strerror(errno);
  }
  return last_error;
}

Exchange options_request(const CentralConfig& central, const std::string& password, std::chrono::milliseconds deadline) {
  Exchange exchange;
  base::curl::Easy easy(curl_easy_init());
  CURL* e = easy.get();
  std::array<char, CURL_ERROR_SIZE> error{};
  Received received;
  received.max_body = 64 * 1024;
  std::string pins;
  for (const std::string& pin : central.pins) pins += (pins.empty() ? "" : ";") + pin;
  base::curl::Slist headers(curl_slist_append(nullptr, "Tus-Resumable: 1.0.0"));
  curl_easy_setopt(e, CURLOPT_URL, central.url.c_str());
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "OPTIONS");
  curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error.data());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &received);
  // As the uploads: only the configured private CA, peer and host verified.
  curl_easy_setopt(e, CURLOPT_CAINFO, central.ca.c_str());
  curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, central.tls_min == "1.2" ? CURL_SSLVERSION_TLSv1_2 : CURL_SSLVERSION_TLSv1_3);
  curl_easy_setopt(e, CURLOPT_SSLCERT, central.cert.c_str());
  curl_easy_setopt(e, CURLOPT_SSLKEY, central.key.c_str());
  if (!password.empty()) curl_easy_setopt(e, CURLOPT_KEYPASSWD, password.c_str());
  if (!pins.empty()) curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, pins.c_str());
  curl_easy_setopt(e, CURLOPT_PROXY, central.proxy.c_str());  // empty: no proxy, environment ignored
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(deadline.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(deadline.count()));
  const CURLcode code = curl_easy_perform(e);
  exchange.answered_at = std::chrono::system_clock::now();
  exchange.curl_code = static_cast<int>(code);
  exchange.error = error[0] != '\0' ? error.data() : curl_easy_strerror(code);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &exchange.http_status);
  exchange.headers = std::move(received.headers);
  return exchange;
}

LocalPage fetch_status_page(const std::string& listen, std::string_view path, std::chrono::milliseconds deadline,
                            std::size_t max_body) {
  LocalPage page;
  std::string host = listen.substr(0, listen.rfind(':'));
  const std::string port = listen.substr(listen.rfind(':') + 1);
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  const std::string url = "http://" + host + ":" + port + std::string(path);
  base::curl::Easy easy(curl_easy_init());
  CURL* e = easy.get();
  std::array<char, CURL_ERROR_SIZE> error{};
  Received received;
  received.max_body = max_body;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error.data());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(deadline.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(deadline.count()));
  const CURLcode code = curl_easy_perform(e);
  if (code != CURLE_OK) {
    page.error = error[0] != '\0' ? error.data() : curl_easy_strerror(code);
    return page;
  }
  page.answered = true;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &page.status);
  page.body = std::move(received.body);
  return page;
}

}  // namespace medgw::daemon
