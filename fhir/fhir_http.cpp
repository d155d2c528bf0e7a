#include <fhir/fhir_http.hpp>

#include <base/curl_fetch.hpp>
#include <base/curl_handles.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <unistd.h>

namespace medgw::fhir {
namespace {

using base::fail;

constexpr int max_redirects = 5;

struct Transfer {
  HttpResponse* response = nullptr;
  int fd = -1;
  std::size_t limit = 0;
  std::uint64_t file_limit = 0;
  bool too_large = false;
  bool file_too_large = false;
  bool write_failed = false;
  int write_errno = 0;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response (after 100 Continue): its status decides where the body goes.
    transfer->response->headers.clear();
    const std::size_t space = line.find(' ');
    transfer->response->status =
        space == std::string_view::npos ? 0 : std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    return size * count;
  }
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    transfer->response->headers[name] = std::string(value);
  }
  return size * count;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t length = size * count;
  HttpResponse& response = *transfer->response;
  // Only a 200 goes to the file; error bodies and redirects stay (small) in memory.
  if (transfer->fd >= 0 && response.status == 200) {
    if (response.bytes + length > transfer->file_limit) {
      transfer->file_too_large = true;
      return 0;
    }
    std::string_view rest(data, length);
    while (!rest.empty()) {
      const ssize_t wrote = ::write(transfer->fd, rest.data(), rest.size());
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) {
        transfer->write_failed = true;
        transfer->write_errno = errno;
        return 0;
      }
      rest.remove_prefix(static_cast<std::size_t>(wrote));
    }
  } else {
    if (response.body.size() + length > transfer->limit) {
      transfer->too_large = true;
      return 0;
    }
    response.body.append(data, length);
  }
  response.bytes += length;
  return length;
}

}  // namespace

std::string origin_of(std::string_view url) {
  base::curl::Url handle(curl_url());
  const std::string text(url);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return {};
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  std::string origin;
  if (curl_url_get(handle.get(), CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(handle.get(), CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(handle.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    std::string lower_scheme(scheme);
    std::string lower_host(host);
    std::transform(lower_scheme.begin(), lower_scheme.end(), lower_scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    std::transform(lower_host.begin(), lower_host.end(), lower_host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower_scheme == "http" || lower_scheme == "https") origin = lower_scheme + "://" + lower_host + ":" + port;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  return origin;
}

std::string host_of(std::string_view url) {
  const std::size_t start = url.find("://");
  const std::size_t from = start == std::string_view::npos ? 0 : start + 3;
  const std::size_t end = url.find_first_of("/?#", from);
  std::string host(url.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
  if (const std::size_t at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
  return host;
}

std::string percent_encode(std::string_view text, std::string_view keep) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~' || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

int retry_after_seconds(const HttpResponse& response, int fallback) {
  const auto found = response.headers.find("retry-after");
  if (found == response.headers.end() || found->second.empty()) return fallback;
  const std::string& value = found->second;
  long seconds = -1;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    seconds = value.size() > 6 ? 3600 : std::stol(value);
  } else {
    const std::time_t when = curl_getdate(value.c_str(), nullptr);
    if (when < 0) return fallback;
    seconds = static_cast<long>(when - std::time(nullptr));
  }
  return static_cast<int>(std::clamp<long>(seconds, 1, 3600));
}

HttpClient::HttpClient(TlsSettings tls, std::string what) : tls_(std::move(tls)), what_(std::move(what)) {}

base::Result<HttpResponse> HttpClient::once(const HttpRequest& request, const std::string& url, bool with_bearer) const {
  base::curl::Easy easy(curl_easy_init());
  if (!easy) return fail("fhir_http", "libcurl could not start a transfer");
  CURL* handle = easy.get();
  HttpResponse response;
  response.url = url;
  Transfer transfer{&response, request.body_fd, request.body_limit, request.file_limit};
  base::curl::Slist headers;
  auto add_header = [&](const std::string& line) {
    curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
    if (grown != nullptr) {
      (void)headers.release();
      headers.reset(grown);
    }
  };
  for (const std::string& line : request.headers) add_header(line);
  if (with_bearer && !request.bearer.empty()) add_header("Authorization: Bearer " + request.bearer);
  base::curl::set_fetch_options(handle, url, {tls_.ca, tls_.cert, tls_.key});
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate as the server offers
  if (request.method == "POST") {
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  const CURLcode code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  const std::string where = what_ + " at " + host_of(url);
  if (transfer.write_failed) {
    return fail("fhir_staging", "cannot write what " + where + " sent: " + std::strerror(transfer.write_errno));
  }
  if (transfer.file_too_large) {
    return fail("fhir_no_room", "what " + where + " sends does not fit under spool.max_bytes and spool.min_free");
  }
  if (transfer.too_large) {
    return fail("fhir_http", where + " sent an answer over " + std::to_string(request.body_limit >> 20) + " MiB");
  }
  if (code != CURLE_OK) return fail("fhir_unreachable", where + " cannot be read: " + curl_easy_strerror(code));
  if (response.status >= 300 && response.status < 400) {
    char* location = nullptr;
    curl_easy_getinfo(handle, CURLINFO_REDIRECT_URL, &location);
    if (location != nullptr) response.headers["location"] = location;  // made absolute by libcurl
  }
  return response;
}

base::Result<HttpResponse> HttpClient::send(const HttpRequest& request) const {
  const std::string origin = origin_of(request.url);
  if (origin.empty()) return fail("fhir_http", "not an http(s) URL: " + host_of(request.url));
  std::string url = request.url;
  std::vector<std::string> redirects;
  for (int hop = 0;; ++hop) {
    // The token only to the origin it was issued for (a redirect to another
    // host, such as a file server, goes without it).
    auto response = once(request, url, origin_of(url) == origin);
    if (!response) return response;
    const long status = response->status;
    const bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (!redirect || request.method != "GET") {
      response->redirects = std::move(redirects);
      return response;
    }
    const auto location = response->headers.find("location");
    if (location == response->headers.end() || origin_of(location->second).empty()) {
      return fail("fhir_http", what_ + " at " + host_of(url) + " redirected to something that is not an http(s) URL");
    }
    if (origin_of(url).starts_with("https:") && origin_of(location->second).starts_with("http:")) {
      return fail("fhir_http", what_ + " at " + host_of(url) + " redirected from https to plain http (" +
                                   host_of(location->second) + "); medgw does not follow that");
    }
    if (hop + 1 >= max_redirects) return fail("fhir_http", what_ + " at " + host_of(request.url) + " redirected too often");
    url = location->second;
    redirects.push_back(url);
  }
}

}  // namespace medgw::fhir
