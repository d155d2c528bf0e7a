#include <daemon/delivery/tus_transfer.hpp>

#include <base/base64.hpp>
#include <base/curl_handles.hpp>
#include <base/time_format.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include <curl/curl.h>

namespace medgw::daemon::tus {
namespace {

constexpr std::uint64_t record_offset_every = 64ULL << 20;
constexpr int max_restarts = 3;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::uint64_t> to_number(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::string header(const Headers& headers, const std::string& name) {
  const auto found = headers.find(name);
  return found == headers.end() ? std::string() : found->second;
}

std::chrono::seconds retry_after(const Headers& headers) {
  const auto seconds = to_number(header(headers, "retry-after"));
  return std::chrono::seconds(seconds ? std::min<std::uint64_t>(*seconds, 3600) : 0);
}

std::string b64(std::string_view text) { return base::base64_encode(base::as_bytes(text), true); }

// scheme, host and port of a URL (default ports filled in), or nullopt.
struct Origin {
  std::string scheme, host, port;
  bool operator==(const Origin&) const = default;
};

std::string url_part(const base::curl::Url& url, CURLUPart which, unsigned flags) {
  char* value = nullptr;
  if (curl_url_get(url.get(), which, &value, flags) != CURLUE_OK || value == nullptr) return {};
  std::string out(value);
  curl_free(value);
  return out;
}

std::optional<Origin> origin_of(const std::string& url) {
  base::curl::Url parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  Origin origin{lower(url_part(parsed, CURLUPART_SCHEME, 0)), lower(url_part(parsed, CURLUPART_HOST, 0)),
                url_part(parsed, CURLUPART_PORT, CURLU_DEFAULT_PORT)};
  if (origin.scheme.empty() || origin.host.empty()) return std::nullopt;
  return origin;
}

// A Location resolved against the endpoint; nullopt when it points anywhere
// but the central's own scheme, host and port.
std::optional<std::string> resolve_location(const std::string& endpoint, const std::string& location) {
  base::curl::Url parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, endpoint.c_str(), 0) != CURLUE_OK ||
      curl_url_set(parsed.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return std::nullopt;
  }
  std::string resolved = url_part(parsed, CURLUPART_URL, 0);
  if (resolved.empty() || origin_of(resolved) != origin_of(endpoint)) return std::nullopt;
  return resolved;
}

// What /metrics calls an HTTP response that failed a request.
UploadErrorClass http_error_class(long status) {
  if (status >= 500) return UploadErrorClass::http_5xx;
  if (status >= 400) return UploadErrorClass::http_4xx;
  return UploadErrorClass::protocol;
}

}  // namespace

std::string_view method_name(Method method) {
  switch (method) {
    case Method::options: return "OPTIONS";
    case Method::post: return "POST";
    case Method::head: return "HEAD";
    case Method::patch: return "PATCH";
    case Method::get: return "GET";
  }
  return "GET";
}

std::string_view state_name(TusTransfer::State state) {
  switch (state) {
    case TusTransfer::State::creating: return "creating";
    case TusTransfer::State::resyncing: return "resyncing";
    case TusTransfer::State::sending: return "sending";
    case TusTransfer::State::confirming: return "confirming";
    case TusTransfer::State::delivered: return "delivered";
    case TusTransfer::State::rejected: return "rejected";
    case TusTransfer::State::unconfirmed: return "unconfirmed";
    case TusTransfer::State::failed: return "failed";
  }
  return "unknown";
}

Request options_request(const std::string& endpoint) {
  return Request{Method::options, endpoint, {"Tus-Resumable: 1.0.0"}, {}};
}

base::Result<ServerOffer> read_server_offer(const Reply& reply) {
  if (const auto* failed = std::get_if<TransportFailure>(&reply)) {
    if (failed->kind == TransportError::tls_refused) {
      return base::fail("tls_refused", "TLS with the central failed: " + failed->message +
                                           " (check central.ca, central.cert/key, central.pin and the central's "
                                           "certificate); nothing was sent");
    }
    // Not "no extensions": a medgw-receiver unreachable for a moment must not
    // be taken for a plain tus server, whose offset == length confirms alone.
    return base::fail("unreachable", "the central could not be reached: " + failed->message);
  }
  const Headers& headers = std::get<Response>(reply).headers;
  ServerOffer offer;
  offer.receipts = headers.contains("medgw-receipts");
  offer.erasures = headers.contains("medgw-erasures");
  offer.checksum_sha256 = header(headers, "tus-extension").find("checksum") != std::string::npos &&
                          header(headers, "tus-checksum-algorithm").find("sha256") != std::string::npos;
  return offer;
}

TusTransfer::TusTransfer(const Session& session, spool::QueuedObject object)
    : session_(session),
      object_(std::move(object)),
      // An unconfirmed object is complete at the central: its receipt is asked for again.
      state_(object_.unconfirmed && !object_.upload_url.empty() ? State::confirming
             : object_.upload_url.empty()                         ? State::creating
                                                                  : State::resyncing),
      url_(object_.upload_url),
      offset_(object_.upload_offset) {}

Request TusTransfer::next(const PieceChecksum& checksum) const {
  switch (state_) {
    case State::creating:
      return creation_request();
    case State::resyncing:
      return Request{Method::head, url_, {"Tus-Resumable: 1.0.0"}, {}};
    case State::sending:
      return patch_request(checksum);
    case State::confirming:
      return Request{Method::get, session_.endpoint + "receipts/" + object_.object_id, {"Tus-Resumable: 1.0.0"}, {}};
    case State::delivered:
    case State::rejected:
    case State::unconfirmed:
    case State::failed:
      break;
  }
  throw std::logic_error("tus transfer: no request once " + std::string(state_name(state_)));
}

Request TusTransfer::creation_request() const {
  const auto created = std::chrono::system_clock::time_point(std::chrono::milliseconds(object_.created_ms));
  const std::string metadata = "object_id " + b64(object_.object_id) + ",seq " + b64(std::to_string(object_.seq)) +
                               ",facility " + b64(session_.facility) + ",gateway " + b64(session_.gateway) +
                               ",sha256 " + b64(object_.sha256) + ",sig " +
                               b64(base::base64_encode(object_.signature, true)) + ",created " +
                               b64(base::rfc3339_utc(created));
  return Request{Method::post,
                 session_.endpoint,
                 {"Tus-Resumable: 1.0.0", "Upload-Length: " + std::to_string(object_.size), "Upload-Metadata: " + metadata},
                 {}};
}

Request TusTransfer::patch_request(const PieceChecksum& checksum) const {
  Request request{Method::patch, url_, {"Tus-Resumable: 1.0.0"}, {}};
  request.body = ByteRange{offset_, std::min(object_.size, offset_ + session_.chunk)};
  request.headers.emplace_back("Content-Type: application/offset+octet-stream");
  request.headers.emplace_back("Upload-Offset: " + std::to_string(offset_));
  if (session_.offer.checksum_sha256 && checksum) {
    const std::string sum = checksum(request.body);
    if (!sum.empty()) request.headers.emplace_back("Upload-Checksum: sha256 " + sum);
  }
  return request;
}

Decision TusTransfer::on_response(const Reply& reply) {
  if (const auto* failed = std::get_if<TransportFailure>(&reply)) {
    if (failed->kind == TransportError::tls_refused) return refuse_tls(failed->message);
    const UploadErrorClass error_class =
        failed->kind == TransportError::timeout ? UploadErrorClass::timeout : UploadErrorClass::connect;
    return retry({error_class, failed->message}, failed->headers);
  }
  const Response& response = std::get<Response>(reply);
  switch (state_) {
    case State::creating: return on_created(response);
    case State::resyncing: return on_resynced(response);
    case State::sending: return on_sent(response);
    case State::confirming: return on_confirmed(response);
    case State::delivered:
    case State::rejected:
    case State::unconfirmed:
    case State::failed:
      break;
  }
  throw std::logic_error("tus transfer: a response once " + std::string(state_name(state_)));
}

Decision TusTransfer::on_created(const Response& response) {
  if (response.status != 201) return on_unexpected_status(response, "creating the upload: HTTP " + std::to_string(response.status));
  const std::string location = header(response.headers, "location");
  if (location.empty()) {
    // Resolved against the endpoint it would name the endpoint itself: the
    // data would go to the creation URL. Not an upload; try again later.
    return retry({UploadErrorClass::protocol, "the central created an upload without a Location"}, response.headers);
  }
  const auto url = resolve_location(session_.endpoint, location);
  if (!url) {
    return retry({UploadErrorClass::protocol,
                  "the central answered with an upload Location on another scheme, host or port; refused"},
                 response.headers);
  }
  url_ = *url;
  offset_ = 0;
  failures_ = 0;
  // An empty object has nothing to PATCH: HEAD confirms offset == length.
  state_ = object_.size == 0 ? State::resyncing : State::sending;
  Decision decision;
  decision.actions.emplace_back(MarkUploading{url_});  // persisted before any data is sent
  return decision;
}

Decision TusTransfer::on_resynced(const Response& response) {
  const long status = response.status;
  if (status == 404 || status == 410) return restart(status);
  if (status != 200 && status != 204) return on_unexpected_status(response, "resuming the upload: HTTP " + std::to_string(status));
  const auto offset = to_number(header(response.headers, "upload-offset"));
  if (!offset || *offset > object_.size) {
    return retry({http_error_class(status), "the central reported no usable Upload-Offset"}, response.headers);
  }
  offset_ = *offset;
  state_ = after_offset();  // offset == length: confirm, never send again
  return Decision{};
}

Decision TusTransfer::on_sent(const Response& response) {
  const long status = response.status;
  if (status == 404 || status == 410) return restart(status);
  if (status == 409 || status == 460) {
    return retry({http_error_class(status),
                  "the upload's offset or checksum did not match (HTTP " + std::to_string(status) + ")"},
                 response.headers);
  }
  if (status != 200 && status != 204) return on_unexpected_status(response, "sending data: HTTP " + std::to_string(status));
  const auto offset = to_number(header(response.headers, "upload-offset"));
  if (!offset || *offset < offset_ || *offset > object_.size) {
    return retry({http_error_class(status), "the central reported an unexpected Upload-Offset"}, response.headers);
  }
  offset_ = *offset;
  failures_ = 0;
  state_ = after_offset();
  // medgw-receiver answers the last PATCH with the receipt: no GET for it.
  // (After a resume, or from a server that does not, the GET asks.)
  if (const std::string receipt = header(response.headers, "medgw-receipt");
      state_ == State::confirming && session_.offer.receipts && !receipt.empty()) {
    return confirm(receipt);
  }
  Decision decision;
  decision.progress = true;
  // For status only (after a failure the server's HEAD is the truth):
  // recorded every 64 MiB, not at every piece.
  if (offset_ - recorded_ >= record_offset_every && offset_ != object_.size) {
    decision.actions.emplace_back(RecordOffset{offset_});
    recorded_ = offset_;
  }
  return decision;
}

Decision TusTransfer::on_confirmed(const Response& response) {
  const long status = response.status;
  if (session_.offer.receipts && status == 404) {
    // The upload is complete but no object was stored (the central failed
    // in between): not delivered; send it again.
    Decision decision = restart(status);
    decision.receipt = ReceiptNote{ReceiptOutcome::not_stored, {}};
    return decision;
  }
  if (session_.offer.receipts && status != 200) {
    return retry({http_error_class(status), "fetching the receipt: HTTP " + std::to_string(status)}, response.headers);
  }
  if (status != 200) {  // a plain tus server: delivered all the same (offset == length)
    Decision decision;
    decision.verdict = Verdict::delivered;
    decision.progress = true;
    state_ = State::delivered;
    decision.receipt = ReceiptNote{ReceiptOutcome::missing, {}};
    decision.actions.emplace_back(MarkDelivered{});
    return decision;
  }
  return confirm(response.body);
}

Decision TusTransfer::confirm(const std::string& receipt) {
  Decision decision;
  decision.verdict = Verdict::delivered;
  decision.progress = true;
  state_ = State::delivered;
  const ReceiptSubject subject{object_.object_id, object_.seq, session_.facility, object_.sha256};
  const base::Result<ReceiptCheck> check = verify_receipt(receipt, subject, session_.receipt_key);
  if (!check) {
    // Not confirmed (invariant 2): the object stays, with the receipt as
    // evidence, until a valid receipt arrives or an operator decides.
    decision.verdict = Verdict::unconfirmed;
    decision.progress = false;
    state_ = State::unconfirmed;
    decision.receipt = ReceiptNote{ReceiptOutcome::invalid, check.error().code};
    decision.actions.emplace_back(MarkUnconfirmed{receipt, check.error().message, session_.retry.unconfirmed_recheck});
    return decision;
  }
  decision.receipt = ReceiptNote{*check == ReceiptCheck::verified ? ReceiptOutcome::verified : ReceiptOutcome::unverified, {}};
  decision.actions.emplace_back(MarkDelivered{receipt});  // kept as proof
  return decision;
}

// An HTTP status the step did not expect.
Decision TusTransfer::on_unexpected_status(const Response& response, std::string why) {
  const long status = response.status;
  if (status == 408 || status == 423 || status == 429 || status >= 500) {
    return retry({http_error_class(status), std::move(why)}, response.headers);
  }
  if (status >= 400) return reject(std::move(why));
  return retry({UploadErrorClass::protocol, std::move(why)}, response.headers);
}

// The central lost the upload, or asks for the object again: a new upload, a
// few times; more means something is wrong there.
Decision TusTransfer::restart(long status) {
  Decision decision;
  decision.actions.emplace_back(ResetUpload{});
  url_.clear();
  state_ = State::creating;
  if (++restarts_ > max_restarts) {
    state_ = State::failed;
    decision.verdict = Verdict::hard_error;
    decision.error = "the central lost or refused the upload of the same object " + std::to_string(restarts_) +
                     " times (HTTP " + std::to_string(status) + "); see the central's log";
    decision.actions.emplace_back(RecordFailure{decision.error});
  }
  return decision;
}

// Capped exponential backoff with full jitter; Retry-After is a minimum.
// With an upload on the central, the next request is a HEAD: resume from the
// server's offset.
Decision TusTransfer::retry(RequestFailure failure, const Headers& headers) {
  Decision decision;
  ++failures_;
  decision.attempt = failures_;
  const std::chrono::milliseconds cap(std::min<std::int64_t>(
      session_.retry.backoff_cap.count(), session_.retry.backoff_base.count() << std::min(failures_, 16)));
  decision.delay = session_.jitter ? session_.jitter(cap) : cap;
  decision.delay = std::max<std::chrono::milliseconds>(decision.delay, retry_after(headers));
  if (!url_.empty()) state_ = State::resyncing;
  if (session_.retry.give_up_after > 0 && failures_ >= session_.retry.give_up_after) {
    state_ = State::failed;
    decision.verdict = Verdict::hard_error;
    decision.error = "the central could not be reached or kept failing: " + failure.why;
    decision.actions.emplace_back(RecordFailure{decision.error});
  } else {
    decision.verdict = Verdict::retry;
  }
  decision.failure = std::move(failure);
  return decision;
}

Decision TusTransfer::reject(std::string why) {
  state_ = State::rejected;
  Decision decision;
  decision.verdict = Verdict::rejected;
  decision.actions.emplace_back(MarkRejected{why});
  decision.failure = RequestFailure{UploadErrorClass::rejected, std::move(why)};
  return decision;
}

// TLS refused by either side: retrying cannot help, an operator must act.
Decision TusTransfer::refuse_tls(const std::string& message) {
  state_ = State::failed;
  Decision decision;
  decision.verdict = Verdict::hard_error;
  decision.error = "TLS with the central failed: " + message +
                   " (check central.ca, central.cert/key, central.pin and the central's certificate)";
  decision.actions.emplace_back(RecordFailure{decision.error});
  decision.failure = RequestFailure{UploadErrorClass::tls, message};
  return decision;
}

TusTransfer::State TusTransfer::after_offset() const noexcept {
  return offset_ == object_.size ? State::confirming : State::sending;
}

}  // namespace medgw::daemon::tus
