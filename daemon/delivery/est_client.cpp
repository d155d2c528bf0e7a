#include <daemon/delivery/est_client.hpp>

#include <base/base64.hpp>
#include <base/curl_handles.hpp>
#include <base/text.hpp>

#include <utility>

namespace medgw::daemon {
namespace {

constexpr std::size_t max_answer = 64 * 1024;  // a certificate and its CA: a few KiB
constexpr long request_timeout_s = 120;        // one small request; the stall detection applies too

struct Exchange {
  std::string body;
  const std::atomic<bool>* stop = nullptr;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  if (exchange.body.size() + size * count > max_answer) return 0;  // aborts: no answer is this big
  exchange.body.append(data, size * count);
  return size * count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& exchange = *static_cast<const Exchange*>(user);
  return exchange.stop != nullptr && exchange.stop->load() ? 1 : 0;
}

EstError est_error(std::string code, std::string message, long status = 0, std::string reason = {}) {
  return EstError{std::move(code), std::move(message), status, std::move(reason)};
}

}  // namespace

base::Result<std::string> est_url(const std::string& central_url, std::string_view operation) {
  const base::curl::Url url(curl_url());
  if (!url || curl_url_set(url.get(), CURLUPART_URL, central_url.c_str(), 0) != CURLUE_OK) {
    return base::fail("central_url_invalid", "central.url is not a URL: " + central_url);
  }
  for (const CURLUPart part : {CURLUPART_QUERY, CURLUPART_FRAGMENT, CURLUPART_USER, CURLUPART_PASSWORD}) {
    curl_url_set(url.get(), part, nullptr, 0);
  }
  const std::string path = "/.well-known/est/" + std::string(operation);
  curl_url_set(url.get(), CURLUPART_PATH, path.c_str(), 0);
  char* text = nullptr;
  if (curl_url_get(url.get(), CURLUPART_URL, &text, 0) != CURLUE_OK) {
    return base::fail("central_url_invalid", "central.url has no origin: " + central_url);
  }
  std::string out(text);
  curl_free(text);
  return out;
}

std::string refusal_reason(std::string_view body) {
  const std::string_view line = base::trim_blanks(body.substr(0, body.find('\n')));
  std::string out;
  for (const char c : line.substr(0, 300)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

base::Result<IssuedCredentials, EstError> request_certificate(const HttpProfile& profile, const std::string& url,
                                                              const std::string& common_name,
                                                              const EnrollmentTicket* ticket,
                                                              const std::atomic<bool>* stop) {
  if (auto material = profile.tls->current(); !material) {
    return base::fail(est_error(material.error().code, material.error().message));
  }
  IssuedCredentials issued;
  issued.key = generate_p256_key();
  const std::string csr = make_csr_der(issued.key.get(), common_name);
  const std::string body =
      base::base64_encode(base::ByteView(reinterpret_cast<const std::uint8_t*>(csr.data()), csr.size()), true);

  Exchange exchange{{}, stop};
  char error[CURL_ERROR_SIZE] = {};
  const base::curl::Easy easy(curl_easy_init());
  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  profile.apply(handle);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT, request_timeout_s);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_POST, 1L);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  base::curl::Slist headers(curl_slist_append(nullptr, "Content-Type: application/pkcs10"));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  if (ticket != nullptr) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(handle, CURLOPT_USERNAME, ticket->facility.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, ticket->ticket.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &exchange);

  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    const std::string what = error[0] != '\0' ? error : curl_easy_strerror(code);
    return base::fail(est_error(code == CURLE_ABORTED_BY_CALLBACK ? "interrupted" : "est_unreachable",
                                "cannot get an answer from " + url + ": " + what));
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    std::string reason = refusal_reason(exchange.body);
    std::string message = "the central refused (HTTP " + std::to_string(status) + ")" +
                          (reason.empty() ? std::string() : ": " + reason);
    return base::fail(est_error("est_refused", std::move(message), status, std::move(reason)));
  }
  auto certificates = parse_est_certificates(exchange.body);
  if (!certificates) return base::fail(est_error(certificates.error().code, certificates.error().message, status));
  auto chain = check_issued(std::move(*certificates), issued.key.get(), common_name);
  if (!chain) return base::fail(est_error(chain.error().code, chain.error().message, status));
  issued.chain = std::move(*chain);
  return issued;
}

}  // namespace medgw::daemon
