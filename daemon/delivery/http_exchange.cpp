#include <daemon/delivery/http_exchange.hpp>

#include <base/text.hpp>

#include <algorithm>
#include <cctype>

#include <unistd.h>

namespace medgw::daemon {
namespace {

constexpr std::size_t max_response_body = 1 << 20;  // a receipt is a few hundred bytes

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

tus::TransportError transport_error(CURLcode code, std::string_view message) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return tus::TransportError::tls_refused;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return message.find(" alert ") != std::string_view::npos ? tus::TransportError::tls_refused
                                                                : tus::TransportError::other;
    case CURLE_OPERATION_TIMEDOUT:
      return tus::TransportError::timeout;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
      return tus::TransportError::connect;
    default:
      return tus::TransportError::other;
  }
}

CURL* HttpExchange::prepare(const tus::Request& request, const HttpProfile& profile, int body_fd,
                            std::uint64_t send_limit) {
  easy_.reset(curl_easy_init());
  CURL* easy = easy_.get();
  method_ = request.method;
  response_headers_.clear();
  body_.clear();
  error_[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  profile.apply(easy);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpExchange::on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpExchange::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  headers_.reset();
  for (const std::string& header : request.headers) {
    headers_.reset(curl_slist_append(headers_.release(), header.c_str()));
  }
  headers_.reset(curl_slist_append(headers_.release(), "Expect:"));  // no 100-continue round trip
  set_method(request, body_fd, send_limit);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_.get());
  return easy;
}

void HttpExchange::set_method(const tus::Request& request, int body_fd, std::uint64_t send_limit) {
  CURL* easy = easy_.get();
  switch (request.method) {
    case tus::Method::options:
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "OPTIONS");
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
      break;
    case tus::Method::post:
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
      break;
    case tus::Method::head:
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
      break;
    case tus::Method::patch:
      fd_ = body_fd;
      send_at_ = request.body.from;
      send_end_ = request.body.to;
      curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);  // fewer, larger TLS writes
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PATCH");
      curl_easy_setopt(easy, CURLOPT_READFUNCTION, &HttpExchange::on_read);
      curl_easy_setopt(easy, CURLOPT_READDATA, this);
      curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      if (send_limit > 0) curl_easy_setopt(easy, CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(send_limit));
      break;
    case tus::Method::get:
      break;
  }
}

std::uint64_t HttpExchange::bytes_sent() const {
  curl_off_t uploaded = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_SIZE_UPLOAD_T, &uploaded);
  return static_cast<std::uint64_t>(uploaded);
}

tus::Reply HttpExchange::reply(CURLcode code) const {
  if (code != CURLE_OK) {
    std::string message = error_[0] != '\0' ? std::string(error_) : std::string(curl_easy_strerror(code));
    const tus::TransportError kind = transport_error(code, message);
    return tus::TransportFailure{kind, std::move(message), response_headers_};
  }
  long status = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
  return tus::Response{status, response_headers_, body_};
}

std::size_t HttpExchange::on_body(char* data, std::size_t size, std::size_t count, void* self) {
  auto& exchange = *static_cast<HttpExchange*>(self);
  if (exchange.body_.size() < max_response_body) exchange.body_.append(data, size * count);
  return size * count;
}

std::size_t HttpExchange::on_header(char* data, std::size_t size, std::size_t count, void* self) {
  auto& exchange = *static_cast<HttpExchange*>(self);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) exchange.response_headers_.clear();  // a new response (after 100, or a proxy's)
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    exchange.response_headers_[lower(base::trim_blanks(line.substr(0, colon)))] = base::trim_blanks(line.substr(colon + 1));
  }
  return size * count;
}

std::size_t HttpExchange::on_read(char* buffer, std::size_t size, std::size_t count, void* self) {
  auto& exchange = *static_cast<HttpExchange*>(self);
  const std::uint64_t left = exchange.send_end_ - exchange.send_at_;
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, size * count));
  if (want == 0) return 0;
  const ssize_t got = ::pread(exchange.fd_, buffer, want, static_cast<off_t>(exchange.send_at_));
  if (got <= 0) return CURL_READFUNC_ABORT;
  exchange.send_at_ += static_cast<std::uint64_t>(got);
  return static_cast<std::size_t>(got);
}

}  // namespace medgw::daemon
