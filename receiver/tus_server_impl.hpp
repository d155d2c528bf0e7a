#pragma once
// TusServer's inside, split by aspect: tus_server.cpp (construction, start,
// stop, the sweep), tus_accept.cpp (the accept loop: caps and back-off),
// tus_session.cpp (a connection: TLS, requests, dispatch), tus_patch.cpp
// (PATCH bodies and completion). Event-loop thread unless said otherwise.
#include <receiver/backup_area.hpp>
#include <receiver/completion.hpp>
#include <receiver/connection_limiter.hpp>
#include <receiver/enrollment_registry.hpp>
#include <receiver/issuing_ca.hpp>
#include <receiver/landing_queue.hpp>
#include <receiver/log_throttle.hpp>
#include <receiver/store.hpp>
#include <receiver/tus_protocol.hpp>
#include <receiver/tus_server.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <unordered_set>

namespace medgw::receiver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Parser = http::request_parser<http::buffer_body>;

[[nodiscard]] std::int64_t unix_ms();

// How a PATCH body ended.
struct BodyResult {
  std::uint64_t at = 0;   // the offset the bytes written reach
  bool broken = false;    // the connection failed or timed out
  bool too_long = false;  // more bytes than Upload-Length
  int write_error = 0;    // errno of a failed write (ENOSPC...)
};
// The request's headers as TusProtocol reads them.
[[nodiscard]] TusRequest tus_request(const Parser& parser);

// Who is on the other end of a connection.
struct Peer {
  const FacilityEntry* facility = nullptr;  // its certificate's facility; nullptr: none or not mapped
  PeerCertificate certificate;              // serial empty: no client certificate (enrollment only)
  [[nodiscard]] bool has_certificate() const { return !certificate.serial.empty(); }
};

struct TusServer::Impl {
  Impl(asio::io_context& io_context, ReceiverConfig receiver_config, log::Logger log);

  // tus_accept.cpp
  asio::awaitable<void> accept_loop();
  // tus_session.cpp
  asio::awaitable<void> session(tcp::socket socket);
  // Waits (handshake_timeout at most) until the client sends something.
  asio::awaitable<bool> first_bytes(tcp::socket& socket);
  // The requests of an authenticated connection, one at a time.
  asio::awaitable<void> serve(Stream& stream, const Peer& peer);
  asio::awaitable<TusAnswer> handle(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const Peer& peer);
  asio::awaitable<TusAnswer> create(const TusRequest& request, const FacilityEntry& facility);
  asio::awaitable<TusAnswer> receipt(std::string object_id, const FacilityEntry& facility);
  asio::awaitable<TusAnswer> erasure(std::string object_id, const FacilityEntry& facility);
  asio::awaitable<TusAnswer> terminate(const std::string& id, const FacilityEntry& facility);
  // Reads and discards a body we do not use; false when it was longer than
  // `limit` (the connection must then close).
  asio::awaitable<bool> drain(Stream& stream, beast::flat_buffer& buffer, Parser& parser, std::uint64_t limit);
  // tus_patch.cpp
  asio::awaitable<TusAnswer> patch(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const std::string& id,
                                   const FacilityEntry& facility);
  asio::awaitable<BodyResult> receive_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                           LiveUpload& upload, int fd, crypto::Sha256* checksum);
  asio::awaitable<bool> record_offset(const std::string& id, std::uint64_t offset);
  asio::awaitable<TusAnswer> complete(Upload row, const FacilityEntry& facility, std::string digest);
  TusAnswer completed(const std::string& id, const FacilityEntry& facility, const CompletionResult& result);
  // backup_endpoint.cpp
  asio::awaitable<TusAnswer> backup(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                    const FacilityEntry& facility);
  asio::awaitable<TusAnswer> backup_put(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                        const FacilityEntry& facility, const std::string& name, BackupName kind);
  // est_endpoint.cpp (issue 22): the enrollment service.
  asio::awaitable<TusAnswer> est(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const Peer& peer);
  asio::awaitable<TusAnswer> enroll(const std::string& body, const Parser& parser);
  asio::awaitable<TusAnswer> reenroll(const std::string& body, const Peer& peer);
  // Blocking (the pool): signs with the key or ca.command, and records it.
  struct Signed {
    std::optional<IssuedCertificate> certificate;
    std::string error;  // when there is none
  };
  Signed sign(const CheckedCsr& csr, const std::string& facility, const std::string& via);
  // Why this peer may not go past the enrollment service (no certificate,
  // revoked, expired), or nullopt.
  std::optional<TusAnswer> refusal(const Peer& peer);
  asio::awaitable<std::optional<std::string>> read_small_body(Stream& stream, beast::flat_buffer& buffer,
                                                               Parser& parser, std::uint64_t limit);
  // Picks up revocations (and remakes the CRL) each second.
  asio::awaitable<void> revocation_loop();
  // tus_server.cpp
  asio::awaitable<void> sweep_loop();
  // Whether a throttled event may be logged now, and how many were held back.
  static std::optional<std::uint64_t> may_log(LogThrottle& throttle);

  // Runs `work` on the blocking pool and resumes on the event loop with its
  // result (SQLite, fsync, hashing never block the loop).
  template <class Work>
  asio::awaitable<std::invoke_result_t<Work&>> off_loop(Work work, asio::thread_pool* pool = nullptr) {
    using Result = std::invoke_result_t<Work&>;
    co_return co_await asio::co_spawn(
        pool != nullptr ? *pool : blocking_pool, [&work]() -> asio::awaitable<Result> { co_return work(); },
        asio::use_awaitable);
  }

  asio::io_context& io;
  ReceiverConfig config;
  log::Logger logger;
  ssl::context ssl_context;
  tcp::acceptor acceptor;
  asio::steady_timer sweep_timer;
  Store store;
  crypto::SigningKey receipt_key;
  GatewaySignatures signatures;  // before completer and protocol, which share it
  Completer completer;
  TusProtocol protocol;
  ConnectionLimiter limiter;
  std::unique_ptr<LandingQueue> landing;  // with landing configured
  std::unique_ptr<BackupArea> backup_area;  // with backup.dir configured
  std::unique_ptr<IssuingCa> issuing_ca;    // with ca: configured
  std::unique_ptr<EnrollmentRegistry> registry;
  std::unordered_set<std::string> revoked_serials;  // event loop
  std::int64_t registry_version = -1;               // revocation_loop's blocking part
  Der crl_der;
  asio::steady_timer revocation_timer{io};
  asio::thread_pool blocking_pool{2};     // fsync, hashing, SQLite commits
  // Completions wait on the disk most of the time; the more of them wait at
  // once, the more share one round of fsyncs and one commit (group commit).
  // As many as a gateway sends at once (DrainOptions::parallel, 32):
  // bench/upload's 10,000 small objects ~1,050/s with 16 against ~870/s with
  // 8 (alternating); what decides is mostly the gateway's parallel requests.
  asio::thread_pool completion_pool{32};
  std::uint64_t patches = 0;
  bool stopping = false;
  LogThrottle tls_log{20};
  LogThrottle refused_log{10};
  LogThrottle accept_log{10};
  LogThrottle refused_upload_log{20};
  LogThrottle limit_log{20};
  LogThrottle revoked_log{20};
  LogThrottle enroll_log{20};
  ConnectionCounters reported{};  // what the last receiver.connections line said
};

}  // namespace medgw::receiver
