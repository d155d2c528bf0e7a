#pragma once
// One request to the central on a libcurl easy handle: set up from a
// tus::Request and the HttpProfile, collecting the response (status,
// headers, up to 1 MiB of body) for the state machine; a PATCH body is read
// from the object file. The caller adds the handle to the multi handle and
// hands back curl's result.
#include <daemon/delivery/http_profile.hpp>
#include <daemon/delivery/tus_transfer.hpp>

#include <base/curl_handles.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include <curl/curl.h>

namespace medgw::daemon {

class HttpExchange {
 public:
  HttpExchange() = default;
  // curl holds pointers into it while a request runs.
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  // A new easy handle for `request` (the previous one is freed: remove it
  // from the multi handle first). A PATCH reads its body from `body_fd`, at
  // most `send_limit` bytes/s (0 = no cap).
  [[nodiscard]] CURL* prepare(const tus::Request& request, const HttpProfile& profile, int body_fd,
                              std::uint64_t send_limit);
  [[nodiscard]] CURL* handle() const noexcept { return easy_.get(); }
  [[nodiscard]] tus::Method method() const noexcept { return method_; }
  // Request body bytes curl sent (a PATCH's bytes on the wire).
  [[nodiscard]] std::uint64_t bytes_sent() const;
  // What came back, once curl reports the request done with `code`.
  [[nodiscard]] tus::Reply reply(CURLcode code) const;

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* self);
  void set_method(const tus::Request& request, int body_fd, std::uint64_t send_limit);

  base::curl::Easy easy_;
  base::curl::Slist headers_;
  tus::Method method_ = tus::Method::get;
  tus::Headers response_headers_;
  std::string body_;
  char error_[CURL_ERROR_SIZE] = {};
  int fd_ = -1;
  std::uint64_t send_at_ = 0;
  std::uint64_t send_end_ = 0;
};

// How a failed curl transfer counts. With TLS 1.3 the server's refusal of our
// certificate arrives as an alert on the first read, so a read/send error
// carrying a TLS alert is a TLS refusal too.
[[nodiscard]] tus::TransportError transport_error(CURLcode code, std::string_view message);

}  // namespace medgw::daemon
