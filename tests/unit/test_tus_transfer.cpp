// The tus state machine (daemon/delivery/tus_transfer.hpp) against a fake
// central: each request the machine asks for is answered with a scripted
// reply; the requests and the spool actions are recorded in order. No
// sockets, no clock, no spool.
#include <daemon/delivery/tus_transfer.hpp>

#include <crypto/signing.hpp>

#include <base/base64.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace tus = medgw::daemon::tus;
using tus::Decision;
using tus::Headers;
using tus::Method;
using tus::ReceiptOutcome;
using tus::Response;
using tus::TransportError;
using tus::TransportFailure;
using tus::Verdict;
using State = tus::TusTransfer::State;
using medgw::daemon::UploadErrorClass;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<State> {
  static std::string convert(State state) { return std::string(tus::state_name(state)); }
};
template <>
struct StringMaker<Verdict> {
  static std::string convert(Verdict verdict) {
    constexpr const char* names[] = {"proceed", "retry", "rejected", "hard_error", "delivered"};
    return names[static_cast<int>(verdict)];
  }
};
template <>
struct StringMaker<ReceiptOutcome> {
  static std::string convert(ReceiptOutcome outcome) {
    constexpr const char* names[] = {"verified", "unverified", "missing", "invalid", "not_stored"};
    return names[static_cast<int>(outcome)];
  }
};
template <>
struct StringMaker<UploadErrorClass> {
  static std::string convert(UploadErrorClass error_class) {
    return std::string(medgw::daemon::upload_error_class_name(error_class));
  }
};
}  // namespace Catch

namespace {

const std::string endpoint = "https://central.test/files/";
const std::string object_id = "0190a0b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
const std::string facility = "131234567";
const std::string sha256 = std::string(64, 'a');
constexpr std::uint64_t seq = 42;

medgw::spool::QueuedObject make_object(std::uint64_t size, std::string upload_url = {}, std::uint64_t offset = 0) {
  medgw::spool::QueuedObject object;
  object.object_id = object_id;
  object.seq = seq;
  object.file = "/nonexistent/object.age";  // the machine never reads it
  object.size = size;
  object.sha256 = sha256;
  object.signature = std::vector<std::uint8_t>(64, 0x5a);
  object.created_ms = 1'700'000'000'000;
  object.upload_url = std::move(upload_url);
  object.upload_offset = offset;
  return object;
}

tus::Session make_session(tus::ServerOffer offer = {}) {
  tus::Session session;
  session.endpoint = endpoint;
  session.facility = facility;
  session.gateway = "gw-test";
  session.chunk = 4;
  session.offer = offer;
  session.retry = {8, 250ms, 30'000ms};
  session.jitter = [](std::chrono::milliseconds) { return 0ms; };  // no randomness: Retry-After alone sets delays
  return session;
}

Response http(long status, Headers headers = {}, std::string body = {}) {
  return Response{status, std::move(headers), std::move(body)};
}
Response created(const std::string& location) { return http(201, {{"location", location}}); }
Response offset_is(std::uint64_t offset, long status = 204) {
  return http(status, {{"upload-offset", std::to_string(offset)}});
}
TransportFailure failed(TransportError kind, std::string message = "boom") {
  return TransportFailure{kind, std::move(message), {}};
}

std::string header(const tus::Request& request, std::string_view name) {
  for (const std::string& line : request.headers) {
    if (line.starts_with(std::string(name) + ": ")) return line.substr(name.size() + 2);
  }
  return "(absent)";
}

std::string describe(const tus::Request& request) {
  std::string text = std::string(tus::method_name(request.method)) + " " + request.url;
  if (request.method == Method::patch) {
    text += " [" + std::to_string(request.body.from) + "," + std::to_string(request.body.to) + ")";
  }
  return text;
}

std::string describe(const tus::Action& action) {
  struct Describe {
    std::string operator()(const tus::MarkUploading& a) const { return "mark_uploading " + a.url; }
    std::string operator()(const tus::RecordOffset& a) const { return "record_offset " + std::to_string(a.offset); }
    std::string operator()(const tus::ResetUpload&) const { return "reset_upload"; }
    std::string operator()(const tus::MarkDelivered& a) const {
      return a.receipt.empty() ? "mark_delivered" : "mark_delivered with receipt";
    }
    std::string operator()(const tus::MarkRejected&) const { return "mark_rejected"; }
    std::string operator()(const tus::MarkUnconfirmed& a) const {
      return "mark_unconfirmed " + std::to_string(a.recheck.count() / 60'000) + " min";
    }
    std::string operator()(const tus::RecordFailure&) const { return "record_failure"; }
  };
  return std::visit(Describe{}, action);
}

// The fake central: drives one TusTransfer. Each answer() asks the machine for
// its next request, records it, hands it the scripted reply and records the
// spool actions of the decision, in order.
class FakeCentral {
 public:
  explicit FakeCentral(std::uint64_t size, tus::ServerOffer offer = {}, std::string upload_url = {},
                       std::uint64_t offset = 0)
      : session_(make_session(offer)), transfer_(session_, make_object(size, std::move(upload_url), offset)) {}

  Decision answer(const tus::Reply& reply) {
    last_request_ = transfer_.next([this](tus::ByteRange piece) {
      checksummed_.push_back(piece);
      return "sum" + std::to_string(piece.from) + "-" + std::to_string(piece.to);
    });
    trace_.push_back(describe(last_request_));
    Decision decision = transfer_.on_response(reply);
    for (const tus::Action& action : decision.actions) trace_.push_back(describe(action));
    return decision;
  }
  // The request the machine asks for now, without answering it.
  [[nodiscard]] tus::Request peek() const { return transfer_.next([](tus::ByteRange) { return std::string("x"); }); }
  void set_jitter(tus::Jitter jitter) { session_.jitter = std::move(jitter); }
  void set_give_up_after(int failures) { session_.retry.give_up_after = failures; }
  void set_chunk(std::uint64_t chunk) { session_.chunk = chunk; }
  void set_receipt_key(const medgw::crypto::Ed25519PublicKey& key) { session_.receipt_key = key; }

  [[nodiscard]] const tus::TusTransfer& transfer() const { return transfer_; }
  [[nodiscard]] const std::vector<std::string>& trace() const { return trace_; }
  [[nodiscard]] const tus::Request& last_request() const { return last_request_; }
  [[nodiscard]] const std::vector<tus::ByteRange>& checksummed() const { return checksummed_; }

 private:
  tus::Session session_;  // before transfer_: the machine keeps a reference
  tus::TusTransfer transfer_;
  std::vector<std::string> trace_;
  tus::Request last_request_;
  std::vector<tus::ByteRange> checksummed_;
};

// Creates the upload and leaves the machine ready to send data.
void create(FakeCentral& central, const std::string& location = "/files/u1") {
  const Decision decision = central.answer(created(location));
  REQUIRE(decision.verdict == Verdict::proceed);
}

std::string signed_receipt(const medgw::crypto::SigningKey& key, const std::string& id, std::uint64_t receipt_seq,
                           const std::string& receipt_sha256 = sha256) {
  const std::string received_at = "2025-01-02T03:04:05.678Z";
  const auto signature = key.sign(medgw::base::as_bytes(
      medgw::crypto::receipt_statement(id, receipt_seq, facility, receipt_sha256, received_at)));
  return R"({"object_id":")" + id + R"(","seq":)" + std::to_string(receipt_seq) + R"(,"facility":")" + facility +
         R"(","sha256":")" + receipt_sha256 + R"(","received_at":")" + received_at + R"(","signature":")" +
         medgw::base::base64_encode(signature, true) + R"("})";
}

std::string decoded(std::string_view base64) {
  const auto bytes = medgw::base::base64_decode_padded(base64);
  REQUIRE(bytes);
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace

// ---- OPTIONS ----

TEST_CASE("tus OPTIONS: checksum and receipts are used only when the server offers them", "[tus]") {
  const tus::Request request = tus::options_request(endpoint);
  CHECK(request.method == Method::options);
  CHECK(request.url == endpoint);
  CHECK(header(request, "Tus-Resumable") == "1.0.0");

  const auto both = tus::read_server_offer(http(204, {{"tus-extension", "creation,termination,checksum"},
                                                     {"tus-checksum-algorithm", "md5,sha1,sha256"},
                                                     {"medgw-receipts", "1"}}));
  REQUIRE(both);
  CHECK(both->checksum_sha256);
  CHECK(both->receipts);

  const auto plain = tus::read_server_offer(http(204, {{"tus-extension", "creation,termination"}}));
  REQUIRE(plain);
  CHECK_FALSE(plain->checksum_sha256);
  CHECK_FALSE(plain->receipts);

  // checksum, but not with SHA-256
  const auto sha1_only = tus::read_server_offer(
      http(204, {{"tus-extension", "creation,checksum"}, {"tus-checksum-algorithm", "sha1,md5"}}));
  REQUIRE(sha1_only);
  CHECK_FALSE(sha1_only->checksum_sha256);
}

TEST_CASE("tus OPTIONS: a TLS refusal stops the drain, other transport failures are retried, never read as no offer",
          "[tus]") {
  const auto refused = tus::read_server_offer(failed(TransportError::tls_refused, "alert unknown ca"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "tls_refused");
  CHECK_THAT(refused.error().message, Catch::Contains("alert unknown ca") && Catch::Contains("nothing was sent"));

  // An unreachable medgw-receiver taken for a plain tus server would let
  // offset == length confirm an object without its receipt (invariant 2).
  for (const TransportError kind : {TransportError::connect, TransportError::timeout, TransportError::other}) {
    const auto offer = tus::read_server_offer(failed(kind, "connection reset"));
    REQUIRE_FALSE(offer);
    CHECK(offer.error().code == "unreachable");
    CHECK_THAT(offer.error().message, Catch::Contains("connection reset"));
  }
}

// ---- POST ----

TEST_CASE("tus POST: Upload-Length and Upload-Metadata name the object", "[tus]") {
  FakeCentral central(10);
  const tus::Request request = central.peek();
  CHECK(request.method == Method::post);
  CHECK(request.url == endpoint);
  CHECK(header(request, "Tus-Resumable") == "1.0.0");
  CHECK(header(request, "Upload-Length") == "10");
  std::map<std::string, std::string> metadata;
  const std::string text = header(request, "Upload-Metadata");
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::string_view pair = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    const auto space = pair.find(' ');
    REQUIRE(space != std::string_view::npos);
    metadata[std::string(pair.substr(0, space))] = decoded(pair.substr(space + 1));
  }
  CHECK(metadata.at("object_id") == object_id);
  CHECK(metadata.at("seq") == "42");
  CHECK(metadata.at("facility") == facility);
  CHECK(metadata.at("gateway") == "gw-test");
  CHECK(metadata.at("sha256") == sha256);
  CHECK(decoded(metadata.at("sig")) == std::string(64, '\x5a'));
  CHECK(metadata.at("created") == "2023-11-14T22:13:20Z");
  CHECK(metadata.size() == 7);
}

TEST_CASE("tus POST 201: the Location is persisted before the first PATCH (invariant 2)", "[tus]") {
  FakeCentral central(10);
  Decision decision = central.answer(created("/files/u1"));
  CHECK(decision.verdict == Verdict::proceed);
  CHECK(decision.failure == std::nullopt);
  CHECK(central.transfer().state() == State::sending);
  CHECK(central.transfer().upload_url() == "https://central.test/files/u1");
  CHECK(central.answer(offset_is(4)).verdict == Verdict::proceed);
  CHECK(central.trace() == std::vector<std::string>{
                               "POST https://central.test/files/",
                               "mark_uploading https://central.test/files/u1",
                               "PATCH https://central.test/files/u1 [0,4)",
                           });
}

TEST_CASE("tus POST 201: a Location on the central's origin, relative or absolute, is followed", "[tus]") {
  const std::string location = GENERATE(as<std::string>{}, "/files/u1", "u1", "https://central.test/files/u1",
                                        "https://CENTRAL.test:443/files/u1", "//central.test/files/u1");
  FakeCentral central(10);
  create(central, location);
  CHECK(central.transfer().upload_url().ends_with("/files/u1"));
  CHECK(central.peek().url == central.transfer().upload_url());
  CHECK(central.trace().at(1).starts_with("mark_uploading https://"));
}

TEST_CASE("tus POST 201: a Location on another host, scheme or port is refused, never followed", "[tus]") {
  const std::string location = GENERATE(as<std::string>{}, "https://elsewhere.test/files/u1",
                                        "http://central.test/files/u1", "https://central.test:8443/files/u1",
                                        "https://central.test.elsewhere.test/files/u1");
  FakeCentral central(10);
  const Decision decision = central.answer(created(location));
  CHECK(decision.verdict == Verdict::retry);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::protocol);
  CHECK_THAT(decision.failure->why, Catch::Contains("another scheme, host or port"));
  CHECK(central.trace() == std::vector<std::string>{"POST https://central.test/files/"});  // nothing persisted
  CHECK(central.transfer().upload_url().empty());
  CHECK(central.peek().method == Method::post);  // a new upload after the backoff
  CHECK(central.peek().url == endpoint);
}

TEST_CASE("tus POST 201 without a Location: retried, nothing persisted, never a PATCH to the endpoint", "[tus]") {
  const Headers headers = GENERATE(Headers{}, Headers{{"location", ""}});
  FakeCentral central(10);
  const Decision decision = central.answer(http(201, headers));
  CHECK(decision.verdict == Verdict::retry);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::protocol);
  CHECK_THAT(decision.failure->why, Catch::Contains("without a Location"));
  CHECK(central.trace() == std::vector<std::string>{"POST https://central.test/files/"});
  CHECK(central.transfer().upload_url().empty());
  CHECK(central.peek().method == Method::post);
}

TEST_CASE("tus POST: 5xx, 408, 423 and 429 retry", "[tus]") {
  const long status = GENERATE(408L, 423L, 429L, 500L, 503L);
  FakeCentral central(10);
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::retry);
  CHECK(decision.actions.empty());
  CHECK(central.peek().method == Method::post);
}

TEST_CASE("tus POST: another 4xx rejects the object", "[tus]") {
  const long status = GENERATE(400L, 403L, 413L, 415L);
  FakeCentral central(10);
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::rejected);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::rejected);
  CHECK(central.transfer().state() == State::rejected);
  CHECK(central.trace().back() == "mark_rejected");
  CHECK_THROWS_AS(central.peek(), std::logic_error);
}

// ---- PATCH ----

TEST_CASE("tus PATCH 204 with the expected Upload-Offset: the next piece, until the receipt", "[tus]") {
  FakeCentral central(10, {.checksum_sha256 = true, .receipts = false});
  create(central);
  const tus::Request first = central.peek();
  CHECK(header(first, "Content-Type") == "application/offset+octet-stream");
  CHECK(header(first, "Upload-Offset") == "0");
  Decision decision = central.answer(offset_is(4));
  CHECK(decision.progress);
  CHECK(header(central.last_request(), "Upload-Checksum") == "sha256 sum0-4");
  decision = central.answer(offset_is(8, 200));  // 200 is accepted like 204
  CHECK(header(central.last_request(), "Upload-Offset") == "4");
  decision = central.answer(offset_is(10));
  CHECK(central.last_request().body == tus::ByteRange{8, 10});  // the last piece is short
  CHECK(central.transfer().state() == State::confirming);
  CHECK(central.checksummed() == std::vector<tus::ByteRange>{{0, 4}, {4, 8}, {8, 10}});
  CHECK(central.peek().method == Method::get);
  CHECK(central.peek().url == endpoint + "receipts/" + object_id);
}

TEST_CASE("tus PATCH: no Upload-Checksum when the server does not offer it", "[tus]") {
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = false});
  create(central);
  central.answer(offset_is(4));
  CHECK(header(central.last_request(), "Upload-Checksum") == "(absent)");
  CHECK(central.checksummed().empty());
}

TEST_CASE("tus PATCH 204 with an unexpected Upload-Offset resyncs via HEAD", "[tus]") {
  const std::string reported = GENERATE(as<std::string>{}, "", "3", "11", "four");  // behind, beyond length, junk
  FakeCentral central(10);
  create(central);
  central.answer(offset_is(4));
  const Decision decision = central.answer(http(204, {{"upload-offset", reported}}));
  CHECK(decision.verdict == Verdict::retry);
  CHECK(central.transfer().state() == State::resyncing);
  CHECK(central.peek().method == Method::head);
  CHECK(central.peek().url == "https://central.test/files/u1");
}

TEST_CASE("tus PATCH 409 and 460: HEAD, then resume from the server's offset", "[tus]") {
  const long status = GENERATE(409L, 460L);
  FakeCentral central(10);
  create(central);
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::retry);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::http_4xx);
  CHECK_THAT(decision.failure->why, Catch::Contains("offset or checksum did not match"));
  CHECK(central.answer(offset_is(3, 200)).verdict == Verdict::proceed);  // HEAD
  CHECK(central.peek().body == tus::ByteRange{3, 7});
  CHECK(central.trace() == std::vector<std::string>{
                               "POST https://central.test/files/",
                               "mark_uploading https://central.test/files/u1",
                               "PATCH https://central.test/files/u1 [0,4)",
                               "HEAD https://central.test/files/u1",
                           });
}

TEST_CASE("tus PATCH 404 or 410: the upload is reset and created again", "[tus]") {
  const long status = GENERATE(404L, 410L);
  FakeCentral central(10);
  create(central);
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::proceed);
  CHECK(decision.failure == std::nullopt);
  CHECK(central.trace().back() == "reset_upload");
  CHECK(central.transfer().upload_url().empty());
  CHECK(central.peek().method == Method::post);
  create(central, "/files/u2");
  CHECK(central.peek().url == "https://central.test/files/u2");
  CHECK(central.peek().body == tus::ByteRange{0, 4});
}

TEST_CASE("tus HEAD 404 or 410: restart, and the 4th restart in a run is a hard error", "[tus]") {
  const long status = GENERATE(404L, 410L);
  FakeCentral central(10, {}, "https://central.test/files/old", 4);
  for (int restart = 1; restart <= 3; ++restart) {
    CHECK(central.peek().method == Method::head);  // resumed from the spool, then after a cut
    const Decision decision = central.answer(http(status));
    CHECK(decision.verdict == Verdict::proceed);
    CHECK(central.trace().back() == "reset_upload");
    create(central, "/files/u" + std::to_string(restart));
    CHECK(central.answer(failed(TransportError::other)).verdict == Verdict::retry);  // PATCH cut
  }
  const Decision fourth = central.answer(http(status));
  CHECK(fourth.verdict == Verdict::hard_error);
  CHECK_THAT(fourth.error, Catch::Contains("4 times"));
  CHECK(central.transfer().state() == State::failed);
  CHECK(std::vector<std::string>(central.trace().end() - 2, central.trace().end()) ==
        std::vector<std::string>{"reset_upload", "record_failure"});
}

TEST_CASE("tus PATCH 423, 429, 408 and 5xx retry via HEAD, Retry-After a minimum delay", "[tus]") {
  const long status = GENERATE(408L, 423L, 429L, 500L, 502L, 503L, 504L);
  FakeCentral central(10);
  create(central);
  Decision decision = central.answer(http(status, {{"retry-after", "7"}}));
  CHECK(decision.verdict == Verdict::retry);
  CHECK(decision.attempt == 1);
  CHECK(decision.delay == 7s);  // the jitter drew 0
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class ==
        (status >= 500 ? UploadErrorClass::http_5xx : UploadErrorClass::http_4xx));
  CHECK(central.peek().method == Method::head);

  // A longer backoff than Retry-After stands; Retry-After is capped at an hour.
  central.set_jitter([](std::chrono::milliseconds limit) { return limit; });
  decision = central.answer(http(status, {{"retry-after", "0"}}));  // the HEAD
  CHECK(decision.attempt == 2);
  CHECK(decision.delay == 1000ms);
  decision = central.answer(http(status, {{"retry-after", "86400"}}));
  CHECK(decision.delay == 3600s);
}

TEST_CASE("tus PATCH: another 4xx rejects the object", "[tus]") {
  const long status = GENERATE(400L, 401L, 403L, 405L, 413L, 415L, 422L);
  FakeCentral central(10);
  create(central);
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::rejected);
  CHECK(central.trace().back() == "mark_rejected");
  CHECK(std::get<tus::MarkRejected>(decision.actions.back()).reason == "sending data: HTTP " + std::to_string(status));
}

TEST_CASE("tus: a TLS refusal on any request is a hard error", "[tus]") {
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true});
  const int answered = GENERATE(0, 1, 2);  // at POST, PATCH, GET receipt
  if (answered >= 1) create(central);
  if (answered >= 2) central.answer(offset_is(10));
  const Decision decision = central.answer(failed(TransportError::tls_refused, "tlsv13 alert certificate required"));
  CHECK(decision.verdict == Verdict::hard_error);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::tls);
  CHECK_THAT(decision.error, Catch::StartsWith("TLS with the central failed: tlsv13 alert"));
  CHECK(decision.attempt == 0);  // not retried
  CHECK(central.trace().back() == "record_failure");
  CHECK(central.transfer().state() == State::failed);
}

TEST_CASE("tus: transport failures retry, by class, and resume with HEAD once an upload exists", "[tus]") {
  const auto [kind, error_class] =
      GENERATE(std::pair{TransportError::timeout, UploadErrorClass::timeout},
               std::pair{TransportError::connect, UploadErrorClass::connect},
               std::pair{TransportError::other, UploadErrorClass::connect});
  FakeCentral central(10);
  Decision decision = central.answer(failed(kind));  // POST
  CHECK(decision.verdict == Verdict::retry);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == error_class);
  CHECK(central.peek().method == Method::post);  // no upload yet
  create(central);
  decision = central.answer(failed(kind));  // PATCH
  CHECK(decision.verdict == Verdict::retry);
  CHECK(central.peek().method == Method::head);
}

TEST_CASE("tus: backoff doubles from the base up to the cap, and resets after progress", "[tus]") {
  FakeCentral central(10);
  central.set_jitter([](std::chrono::milliseconds limit) { return limit; });  // the largest draw
  central.set_give_up_after(0);  // the daemon: never
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 9; ++i) delays.push_back(central.answer(http(503)).delay);
  CHECK(delays == std::vector<std::chrono::milliseconds>{500ms, 1000ms, 2000ms, 4000ms, 8000ms, 16000ms, 30000ms,
                                                         30000ms, 30000ms});
  create(central);
  CHECK(central.answer(http(503)).attempt == 1);    // PATCH
  CHECK(central.answer(offset_is(0, 200)).attempt == 0);  // HEAD: no progress yet
  CHECK(central.answer(http(503)).attempt == 2);    // PATCH
  central.answer(offset_is(0, 200));                // HEAD
  CHECK(central.answer(offset_is(4)).progress);     // PATCH: data accepted
  CHECK(central.answer(http(503)).attempt == 1);
}

TEST_CASE("tus: give_up_after failures in a row without progress is a hard error", "[tus]") {
  FakeCentral central(10);
  central.set_give_up_after(3);
  CHECK(central.answer(http(503)).verdict == Verdict::retry);
  CHECK(central.answer(http(503)).verdict == Verdict::retry);
  const Decision third = central.answer(http(503));
  CHECK(third.verdict == Verdict::hard_error);
  CHECK(third.attempt == 3);
  CHECK_THAT(third.error, Catch::StartsWith("the central could not be reached or kept failing: creating the upload: HTTP 503"));
  CHECK(central.trace().back() == "record_failure");
}

TEST_CASE("tus: the offset is recorded in the spool every 64 MiB, not at the end", "[tus]") {
  constexpr std::uint64_t mib = 1 << 20;
  FakeCentral central(200 * mib);
  central.set_chunk(16 * mib);
  create(central);
  for (std::uint64_t at = 16; at <= 200; at = std::min<std::uint64_t>(at + 16, 200)) {
    central.answer(offset_is(at * mib));
    if (at == 200) break;
  }
  std::vector<std::string> recorded;
  for (const std::string& line : central.trace()) {
    if (line.starts_with("record_offset")) recorded.push_back(line);
  }
  CHECK(recorded == std::vector<std::string>{"record_offset " + std::to_string(64 * mib),
                                             "record_offset " + std::to_string(128 * mib),
                                             "record_offset " + std::to_string(192 * mib)});
}

// ---- HEAD ----

TEST_CASE("tus HEAD 200 with offset == length: the receipt, never data again", "[tus]") {
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 4);
  CHECK(central.answer(offset_is(10, 200)).verdict == Verdict::proceed);
  CHECK(central.transfer().state() == State::confirming);
  CHECK(central.peek().method == Method::get);
  for (const std::string& line : central.trace()) CHECK_FALSE(line.starts_with("PATCH"));
}

TEST_CASE("tus HEAD without a usable Upload-Offset retries", "[tus]") {
  const std::string reported = GENERATE(as<std::string>{}, "", "11", "-1");
  FakeCentral central(10, {}, "https://central.test/files/u1", 4);
  const Decision decision = central.answer(http(200, {{"upload-offset", reported}}));
  CHECK(decision.verdict == Verdict::retry);
  REQUIRE(decision.failure);
  CHECK(decision.failure->error_class == UploadErrorClass::protocol);
  CHECK(central.peek().method == Method::head);
}

TEST_CASE("tus HEAD: an unexpected status retries (5xx) or rejects (4xx)", "[tus]") {
  FakeCentral flaky(10, {}, "https://central.test/files/u1", 4);
  CHECK(flaky.answer(http(502)).verdict == Verdict::retry);
  FakeCentral refused(10, {}, "https://central.test/files/u1", 4);
  CHECK(refused.answer(http(403)).verdict == Verdict::rejected);
}

// ---- receipts ----

TEST_CASE("tus receipt 200: verified with central.receipt_key, kept as received", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 10);
  central.set_receipt_key(key.public_key());
  central.answer(offset_is(10, 200));
  const std::string receipt = signed_receipt(key, object_id, seq);
  const Decision decision = central.answer(http(200, {}, receipt));
  CHECK(decision.verdict == Verdict::delivered);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::verified);
  CHECK(decision.progress);
  CHECK(std::get<tus::MarkDelivered>(decision.actions.at(0)).receipt == receipt);
  CHECK(central.transfer().state() == State::delivered);
  CHECK_THROWS_AS(central.peek(), std::logic_error);
}

TEST_CASE("tus last PATCH with Medgw-Receipt: the receipt checked as a GET's, no GET", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  const auto other_key = medgw::crypto::SigningKey::generate();
  const std::string good = signed_receipt(key, object_id, seq);
  const std::string forged = signed_receipt(other_key, object_id, seq);
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true});
  central.set_receipt_key(key.public_key());
  create(central);
  const bool honest = GENERATE(true, false);
  const Decision decision = central.answer(http(204, {{"upload-offset", "10"}, {"medgw-receipt", honest ? good : forged}}));
  REQUIRE(decision.receipt);
  if (honest) {
    CHECK(decision.verdict == Verdict::delivered);
    CHECK(decision.receipt->outcome == ReceiptOutcome::verified);
    CHECK(std::get<tus::MarkDelivered>(decision.actions.at(0)).receipt == good);
  } else {
    // Invariant 2 as with a GET's receipt: kept, unconfirmed, an alarm.
    CHECK(decision.verdict == Verdict::unconfirmed);
    CHECK(decision.receipt->error_code == "receipt_bad_signature");
    CHECK(central.trace().back() == "mark_unconfirmed 10 min");
  }
  CHECK_THROWS_AS(central.peek(), std::logic_error);  // no GET receipts/<id>
  for (const std::string& step : central.trace()) CHECK_FALSE(Catch::Contains("GET").match(step));
}

TEST_CASE("tus Medgw-Receipt on a PATCH that is not the last, or from a server without receipts: ignored", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  const std::string receipt = signed_receipt(key, object_id, seq);
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true});
  create(central);
  Decision decision = central.answer(http(204, {{"upload-offset", "4"}, {"medgw-receipt", receipt}}));
  CHECK(decision.verdict == Verdict::proceed);
  CHECK(central.peek().method == Method::patch);
  FakeCentral plain(10, {.checksum_sha256 = false, .receipts = false});
  create(plain);
  decision = plain.answer(http(204, {{"upload-offset", "10"}, {"medgw-receipt", receipt}}));
  CHECK(decision.verdict == Verdict::proceed);
  CHECK(plain.peek().method == Method::get);  // confirmed the plain tus way
}

TEST_CASE("tus receipt 200 without central.receipt_key: unverified", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 10);
  central.answer(offset_is(10, 200));
  const Decision decision = central.answer(http(200, {}, signed_receipt(key, object_id, seq)));
  CHECK(decision.verdict == Verdict::delivered);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::unverified);
}

TEST_CASE("tus receipt that does not check out: an alarm, the object stays unconfirmed", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  const auto other_key = medgw::crypto::SigningKey::generate();
  const auto [body, code] = GENERATE_REF(
      std::pair{signed_receipt(other_key, object_id, seq), "receipt_bad_signature"},
      std::pair{signed_receipt(key, "0190a0b0-0000-7000-8000-000000000000", seq), "receipt_mismatch"},
      std::pair{signed_receipt(key, object_id, seq + 1), "receipt_mismatch"},
      std::pair{signed_receipt(key, object_id, seq, std::string(64, 'b')), "receipt_mismatch"},
      std::pair{std::string("<html>stored</html>"), "receipt_not_json"},
      std::pair{R"({"object_id":")" + object_id + R"("})", "receipt_not_json"});  // no seq
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 10);
  central.set_receipt_key(key.public_key());
  central.answer(offset_is(10, 200));
  const Decision decision = central.answer(http(200, {}, body));
  // Not confirmed (invariant 2): kept in the spool with the receipt as
  // evidence, the receipt asked for again in 10 minutes.
  CHECK(decision.verdict == Verdict::unconfirmed);
  CHECK_FALSE(decision.progress);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::invalid);
  CHECK(decision.receipt->error_code == code);
  CHECK(central.trace().back() == "mark_unconfirmed 10 min");
  for (const std::string& step : central.trace()) CHECK_FALSE(Catch::Contains("mark_delivered").match(step));
}

TEST_CASE("tus unconfirmed object: its receipt is asked for again first, nothing is sent again", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  tus::Session session = make_session({.checksum_sha256 = false, .receipts = true});
  session.receipt_key = key.public_key();
  medgw::spool::QueuedObject object = make_object(10, "https://central.test/files/u1", 0);
  object.unconfirmed = true;
  tus::TusTransfer transfer(session, object);
  const tus::Request request = transfer.next();
  CHECK(request.method == Method::get);
  CHECK(request.url == std::string(endpoint) + "receipts/" + object_id);
  // Still wrong: unconfirmed again; now right: delivered with it.
  CHECK(transfer.on_response(http(200, {}, "not json")).verdict == Verdict::unconfirmed);
  tus::TusTransfer again(session, object);
  const Decision decision = again.on_response(http(200, {}, signed_receipt(key, object_id, seq)));
  CHECK(decision.verdict == Verdict::delivered);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::verified);
  REQUIRE(decision.actions.size() == 1);
  CHECK(std::holds_alternative<tus::MarkDelivered>(decision.actions[0]));
}

TEST_CASE("tus receipt 404 when receipts are offered: nothing was stored, the object is sent again", "[tus]") {
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 10);
  central.answer(offset_is(10, 200));
  const Decision decision = central.answer(http(404));
  CHECK(decision.verdict == Verdict::proceed);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::not_stored);
  CHECK(central.trace().back() == "reset_upload");
  CHECK(central.peek().method == Method::post);
}

TEST_CASE("tus receipt 404 from a plain tus server (no receipts offered): delivered", "[tus]") {
  const long status = GENERATE(404L, 405L, 500L);
  FakeCentral central(10, {.checksum_sha256 = true, .receipts = false}, "https://central.test/files/u1", 10);
  central.answer(offset_is(10, 200));
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::delivered);
  REQUIRE(decision.receipt);
  CHECK(decision.receipt->outcome == ReceiptOutcome::missing);
  CHECK(central.trace().back() == "mark_delivered");  // no receipt kept
}

TEST_CASE("tus receipt: another failure when receipts are offered retries via HEAD", "[tus]") {
  const long status = GENERATE(403L, 500L, 503L);
  FakeCentral central(10, {.checksum_sha256 = false, .receipts = true}, "https://central.test/files/u1", 10);
  central.answer(offset_is(10, 200));
  const Decision decision = central.answer(http(status));
  CHECK(decision.verdict == Verdict::retry);  // never a rejection: the data is on the central
  CHECK(central.peek().method == Method::head);
}

// ---- whole transfers ----

TEST_CASE("tus: a zero-length object is created, confirmed by HEAD, never PATCHed", "[tus]") {
  FakeCentral central(0, {.checksum_sha256 = true, .receipts = false});
  create(central);
  CHECK(central.transfer().state() == State::resyncing);
  central.answer(offset_is(0, 200));
  const Decision decision = central.answer(http(404));
  CHECK(decision.verdict == Verdict::delivered);
  CHECK(central.trace() == std::vector<std::string>{
                               "POST https://central.test/files/",
                               "mark_uploading https://central.test/files/u1",
                               "HEAD https://central.test/files/u1",
                               "GET https://central.test/files/receipts/" + object_id,
                               "mark_delivered",
                           });
}

TEST_CASE("tus: a whole transfer through cuts and a lost upload keeps invariant 2", "[tus]") {
  const auto key = medgw::crypto::SigningKey::generate();
  FakeCentral central(10, {.checksum_sha256 = true, .receipts = true});
  central.set_receipt_key(key.public_key());
  central.answer(created("/files/a"));
  central.answer(offset_is(4));
  central.answer(failed(TransportError::other, "connection reset"));
  central.answer(http(410));  // HEAD: the central lost it
  central.answer(created("/files/b"));
  central.answer(offset_is(4));
  central.answer(offset_is(8));
  central.answer(offset_is(10));
  const Decision decision = central.answer(http(200, {}, signed_receipt(key, object_id, seq)));
  CHECK(decision.verdict == Verdict::delivered);
  CHECK(central.trace() == std::vector<std::string>{
                               "POST https://central.test/files/",
                               "mark_uploading https://central.test/files/a",
                               "PATCH https://central.test/files/a [0,4)",
                               "PATCH https://central.test/files/a [4,8)",
                               "HEAD https://central.test/files/a",
                               "reset_upload",
                               "POST https://central.test/files/",
                               "mark_uploading https://central.test/files/b",
                               "PATCH https://central.test/files/b [0,4)",
                               "PATCH https://central.test/files/b [4,8)",
                               "PATCH https://central.test/files/b [8,10)",
                               "GET https://central.test/files/receipts/" + object_id,
                               "mark_delivered with receipt",
                           });
  // Invariant 2, for every upload: its Location was persisted before any
  // PATCH to it.
  for (std::size_t i = 0; i < central.trace().size(); ++i) {
    const std::string& line = central.trace()[i];
    if (!line.starts_with("PATCH ")) continue;
    const std::string url = line.substr(6, line.find(' ', 6) - 6);
    bool persisted = false;
    for (std::size_t j = 0; j < i; ++j) persisted = persisted || central.trace()[j] == "mark_uploading " + url;
    CHECK(persisted);
  }
}
