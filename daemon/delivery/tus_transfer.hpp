#pragma once
// One object's tus 1.0 upload (core + creation, checksum when offered, the
// medgw receipt) as a state machine driven by responses (DESIGN.md §6,
// invariant 2). It makes no request itself and touches no spool: next() says
// which request to make, on_response() takes what came back - an HTTP
// response or a transport failure - and returns a Decision: what happens now
// and which side effects the driver must apply to the spool, in order.
//
//   creating ──201, Location on the central's origin──▶ sending (or resyncing: empty object)
//   sending ──204, offset < length──▶ sending;  ──offset == length──▶ confirming
//   resyncing (HEAD) ──offset < length──▶ sending; ──offset == length──▶ confirming
//   confirming ──receipt, or none offered──▶ delivered
//   confirming ──a receipt that does not check out──▶ unconfirmed (kept; asked again later)
//   404/410 (HEAD, PATCH; or no receipt when offered): ResetUpload, back to creating
//   (more than 3 times in a run: failed); any retry with an upload: resyncing;
//   permanent 4xx: rejected; TLS refused, or no progress within give_up_after: failed.
#include <daemon/delivery/receipt.hpp>
#include <daemon/delivery/upload_error_class.hpp>

#include <spool/spool.hpp>

#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace medgw::daemon::tus {

// ---- what goes over the wire ----

// Response headers by lower-case name, values trimmed.
using Headers = std::map<std::string, std::string>;

enum class Method { options, post, head, patch, get };
[[nodiscard]] std::string_view method_name(Method method);

// [from, to) of the object file.
struct ByteRange {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  [[nodiscard]] std::uint64_t size() const noexcept { return to - from; }
  bool operator==(const ByteRange&) const = default;
};

struct Request {
  Method method = Method::get;
  std::string url;
  std::vector<std::string> headers;  // "Name: value", in order
  ByteRange body;                    // PATCH: the piece of the object file to send
};

struct Response {
  long status = 0;
  Headers headers;
  std::string body;
};

// A request that got no complete response, by curl's result.
enum class TransportError {
  tls_refused,  // by either side (verification, pin, a TLS alert): an operator must act
  timeout,      // the connect timeout or the stall limit
  connect,      // no connection (resolve, connect, proxy)
  other,        // cut mid-transfer, and the rest
};

struct TransportFailure {
  TransportError kind = TransportError::other;
  std::string message;
  Headers headers;  // what arrived before the failure (Retry-After counts)
};

using Reply = std::variant<Response, TransportFailure>;

// ---- what the server offers (OPTIONS, once per drain) ----

struct ServerOffer {
  bool checksum_sha256 = false;  // Tus-Extension: checksum and Tus-Checksum-Algorithm: sha256
  bool receipts = false;         // Medgw-Receipts: every stored object has a receipt
  bool erasures = false;         // Medgw-Erasures: withdraw objects get erasure receipts once landed
};

[[nodiscard]] Request options_request(const std::string& endpoint);
// TLS refused fails ("tls_refused", naming what to check; nothing was sent).
// Any other transport failure offers nothing: the transfers' own requests
// meet the problem and retry.
[[nodiscard]] base::Result<ServerOffer> read_server_offer(const Reply& reply);

// ---- what every transfer of one drain shares ----

struct RetryPolicy {
  int give_up_after = 8;  // failures in a row without progress; 0 = never
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_cap{30'000};
  // An object whose receipt did not check out: when to ask again.
  std::chrono::milliseconds unconfirmed_recheck{10 * 60'000};
};

// A delay drawn from [0, limit] (full jitter). The driver draws it at random;
// tests pin it.
using Jitter = std::function<std::chrono::milliseconds(std::chrono::milliseconds limit)>;

struct Session {
  std::string endpoint;  // central.url, ending in '/'
  std::string facility;
  std::string gateway;
  std::uint64_t chunk = 16ULL << 20;
  ServerOffer offer;
  std::optional<crypto::Ed25519PublicKey> receipt_key;
  RetryPolicy retry;
  Jitter jitter;
};

// ---- what a response leads to ----

// Side effects on the spool, applied by the driver in the order given.
struct MarkUploading {  // Spool::mark_uploading: always before the first PATCH (invariant 2)
  std::string url;
};
struct RecordOffset {  // for status only: HEAD is the truth
  std::uint64_t offset = 0;
};
struct ResetUpload {};  // the central lost the upload: the next attempt creates a new one
struct MarkDelivered {
  std::string receipt;  // the receipt JSON as received; empty when the server has none
};
struct MarkRejected {
  std::string reason;
};
struct MarkUnconfirmed {  // the receipt did not check out: kept, asked again after `recheck`
  std::string receipt;
  std::string why;
  std::chrono::milliseconds recheck{0};
};
struct RecordFailure {
  std::string error;
};
using Action =
    std::variant<MarkUploading, RecordOffset, ResetUpload, MarkDelivered, MarkRejected, MarkUnconfirmed, RecordFailure>;

enum class Verdict {
  proceed,     // issue next() now
  retry,       // issue next() after `delay`
  rejected,    // permanent refusal: the object moves to `rejected`
  hard_error,  // stop the drain; `error` says what to check
  delivered,
  unconfirmed,  // the receipt did not check out: the object stays, its receipt is asked for later
};

// How a complete upload was confirmed.
enum class ReceiptOutcome {
  verified,    // a receipt signed by central.receipt_key
  unverified,  // a receipt naming the object; no central.receipt_key
  missing,     // the server offers no receipts (a plain tus server): offset == length confirms
  invalid,     // ALARM: a receipt that does not check out; the object stays unconfirmed
  not_stored,  // receipts offered, none for this complete upload: sent again
};
struct ReceiptNote {
  ReceiptOutcome outcome = ReceiptOutcome::missing;
  std::string error_code;  // invalid: receipt_not_json, receipt_mismatch or receipt_bad_signature
};

// A request that failed (for /metrics and the log).
struct RequestFailure {
  UploadErrorClass error_class = UploadErrorClass::protocol;
  std::string why;
};

struct Decision {
  Verdict verdict = Verdict::proceed;
  std::vector<Action> actions;
  std::optional<RequestFailure> failure;
  int attempt = 0;  // set when the failure was retried (or given up on): failures in a row, this one included
  std::chrono::milliseconds delay{0};  // retry
  std::string error;                   // hard_error: operator-facing
  bool progress = false;               // data accepted, or the object confirmed
  std::optional<ReceiptNote> receipt;
};

// ---- the machine ----

// The base64 SHA-256 of a piece of the object file (Upload-Checksum); empty
// when the file cannot be read (the send then fails and is retried).
using PieceChecksum = std::function<std::string(ByteRange piece)>;

class TusTransfer {
 public:
  enum class State { creating, resyncing, sending, confirming, delivered, rejected, unconfirmed, failed };

  // Resumes with a HEAD when the spool has an upload URL for the object.
  TusTransfer(const Session& session, spool::QueuedObject object);

  // The request to make now (not after delivered, rejected or failed).
  // `checksum` is asked for a PATCH's piece when the server offers checksums.
  [[nodiscard]] Request next(const PieceChecksum& checksum = {}) const;
  [[nodiscard]] Decision on_response(const Reply& reply);

  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] const spool::QueuedObject& object() const noexcept { return object_; }
  [[nodiscard]] const std::string& upload_url() const noexcept { return url_; }
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }

 private:
  [[nodiscard]] Request creation_request() const;
  [[nodiscard]] Request patch_request(const PieceChecksum& checksum) const;
  [[nodiscard]] Decision on_created(const Response& response);
  [[nodiscard]] Decision on_resynced(const Response& response);
  [[nodiscard]] Decision on_sent(const Response& response);
  [[nodiscard]] Decision on_confirmed(const Response& response);
  // The central's receipt for the complete object (GET receipts/<id>, or the
  // last PATCH's Medgw-Receipt header), checked before the object may go.
  [[nodiscard]] Decision confirm(const std::string& receipt);
  [[nodiscard]] Decision on_unexpected_status(const Response& response, std::string why);
  [[nodiscard]] Decision restart(long status);
  [[nodiscard]] Decision retry(RequestFailure failure, const Headers& headers);
  [[nodiscard]] Decision reject(std::string why);
  [[nodiscard]] Decision refuse_tls(const std::string& message);
  [[nodiscard]] State after_offset() const noexcept;

  const Session& session_;
  spool::QueuedObject object_;
  State state_;
  std::string url_;
  std::uint64_t offset_ = 0;
  std::uint64_t recorded_ = 0;  // the offset last written to the spool
  int failures_ = 0;            // in a row, without progress
  int restarts_ = 0;            // uploads the central lost (404/410) in this run
};

[[nodiscard]] std::string_view state_name(TusTransfer::State state);

}  // namespace medgw::daemon::tus
