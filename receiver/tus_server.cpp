#include <receiver/tus_server_impl.hpp>

#include <receiver/identifiers.hpp>

#include <crypto/age_keys.hpp>

#include <base/private_file.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>

#include <openssl/ssl.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace medgw::receiver {
namespace {

std::unique_ptr<LandingQueue> make_landing(const ReceiverConfig& config, Store& store,
                                           const crypto::SigningKey& receipt_key, const log::Logger& logger) {
  if (config.landing.empty()) return nullptr;
  crypto::KeyFileError error{};
  const base::SecureBytes content = base::read_private_file(config.identity);
  crypto::age::Identities identities;
  identities.x25519 = crypto::parse_identity_file(base::as_chars(content), error);
  if (identities.x25519.empty()) {
    throw std::runtime_error(config.identity.string() + ": no age identity (AGE-SECRET-KEY-1...) in the file");
  }
  // The receiver's own key for naming patients in logs (pt:xxxxxxxx); it
  // never sees the gateways' keys.
  auto tagger = crypto::PatientTagger::load_or_create(config.data_dir / "patient-tag.key");
  return std::make_unique<LandingQueue>(config, store, std::move(identities), std::move(tagger), receipt_key,
                                        logger.named("landing"));
}

std::optional<std::string> header_value(const Parser& parser, http::field field) {
  const auto& fields = parser.get();
  const auto found = fields.find(field);
  if (found == fields.end()) return std::nullopt;
  return std::string(found->value());
}

std::optional<std::string> header_value(const Parser& parser, std::string_view name) {
  const auto& fields = parser.get();
  const auto found = fields.find(name);
  if (found == fields.end()) return std::nullopt;
  return std::string(found->value());
}

}  // namespace

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TusRequest tus_request(const Parser& parser) {
  const auto& request = parser.get();
  TusRequest out;
  out.method = std::string(request.method_string());
  out.target = std::string(request.target());
  out.tus_resumable = header_value(parser, "Tus-Resumable").value_or("");
  out.upload_length = header_value(parser, "Upload-Length");
  out.upload_metadata = header_value(parser, "Upload-Metadata").value_or("");
  out.upload_offset = header_value(parser, "Upload-Offset");
  out.content_type = header_value(parser, http::field::content_type).value_or("");
  out.upload_checksum = header_value(parser, "Upload-Checksum");
  if (const auto length = parser.content_length()) out.content_length = *length;
  return out;
}

TusServer::Impl::Impl(asio::io_context& io_context, ReceiverConfig receiver_config, log::Logger log)
    : io(io_context),
      config(std::move(receiver_config)),
      logger(std::move(log)),
      ssl_context(ssl::context::tls_server),
      acceptor(io_context),
      sweep_timer(io_context),
      store((std::filesystem::create_directories(config.data_dir), config.data_dir / "receiver.db")),
      receipt_key(crypto::SigningKey::load_or_create(config.receipt_key)),
      completer(config, store, receipt_key, signatures, logger),
      protocol(config, signatures),
      limiter(ConnectionLimits{config.max_connections, config.max_handshakes, config.max_connections_per_facility}),
      landing(make_landing(config, store, receipt_key, logger)) {
  std::filesystem::create_directories(config.data_dir / "uploads");
  std::filesystem::create_directories(config.data_dir / "store");
  if (!config.backup_dir.empty()) {
    std::filesystem::create_directories(config.backup_dir);
    backup_area = std::make_unique<BackupArea>(config.backup_dir, config.backup_quota);
    backup_area->remove_temporaries();
  }
  base::require_private_mode(config.key);
  ssl_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ssl_context.native_handle(), TLS1_2_VERSION);
  ssl_context.use_certificate_chain_file(config.cert.string());
  ssl_context.use_private_key_file(config.key.string(), ssl::context::pem);
  ssl_context.load_verify_file(config.ca.string());
  if (config.enrollment.enabled()) {
    issuing_ca = std::make_unique<IssuingCa>(
        IssuingCa::Options{config.enrollment.cert, config.enrollment.key, config.enrollment.validity});
    registry = std::make_unique<EnrollmentRegistry>(config.data_dir / "enrollment.db");
    for (const RevokedSerial& entry : registry->revoked()) revoked_serials.insert(entry.serial);
    ssl_context.load_verify_file(config.enrollment.cert.string());
    // A client without a certificate may reach the enrollment service only
    // (handle() refuses it everywhere else); an expired one may still
    // renew within ca.grace (reenroll() decides, every other path refuses).
    ssl_context.set_verify_mode(ssl::verify_peer);
    ssl_context.set_verify_callback([](bool preverified, ssl::verify_context& context) {
      X509_STORE_CTX* chain = context.native_handle();
      return preverified || (X509_STORE_CTX_get_error(chain) == X509_V_ERR_CERT_HAS_EXPIRED &&
                             X509_STORE_CTX_get_error_depth(chain) == 0);
    });
  } else {
    ssl_context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  // What a crash cut off is undone before anything is served.
  completer.recover();
  protocol.load(store.uploads());
}

std::optional<std::uint64_t> TusServer::Impl::may_log(LogThrottle& throttle) {
  std::uint64_t suppressed = 0;
  if (!throttle.allow(std::chrono::steady_clock::now(), suppressed)) return std::nullopt;
  return suppressed;
}

asio::awaitable<void> TusServer::Impl::sweep_loop() {
  while (!stopping) {
    for (const std::string& id : protocol.expired(unix_ms())) {
      protocol.drop(id);
      co_await off_loop([&] {
        completer.forget(id);
        return 0;
      });
      logger.info("receiver.upload_expired", "an upload expired and was removed", {});
    }
    const ConnectionCounters& now = limiter.counters();
    if (now.refused_total != reported.refused_total || now.evicted_total != reported.evicted_total ||
        now.facility_refused_total != reported.facility_refused_total) {
      logger.warn("receiver.connections", "connections were refused or closed to make room (limits)",
                  {{"open", now.open}, {"handshaking", now.handshaking}, {"refused_total", now.refused_total},
                   {"evicted_total", now.evicted_total}, {"facility_refused_total", now.facility_refused_total}});
      reported = now;
    }
#if defined(__GLIBC__)
    // Connections come and go in bursts; glibc keeps what they freed unless
    // asked to give it back, and the receiver's RSS would stay at the peak.
    ::malloc_trim(0);
#endif
    boost::system::error_code ec;
    sweep_timer.expires_after(std::chrono::minutes(1));
    co_await sweep_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

TusServer::TusServer(asio::io_context& io, ReceiverConfig config, log::Logger logger)
    : impl_(std::make_unique<Impl>(io, std::move(config), std::move(logger))) {}

TusServer::~TusServer() {
  if (impl_ && impl_->landing) impl_->landing.reset();  // joins its thread
}

std::uint16_t TusServer::start() {
  const std::string& listen = impl_->config.listen;
  const auto colon = listen.rfind(':');
  const auto port = colon == std::string::npos ? parse_decimal("") : parse_decimal(listen.substr(colon + 1));
  if (colon == std::string::npos || !port || *port > 65535) {
    throw std::runtime_error("listen must be IP:port, e.g. 127.0.0.1:8443");
  }
  const auto address = asio::ip::make_address(listen.substr(0, colon));
  const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(*port));
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  asio::co_spawn(impl_->io, impl_->sweep_loop(), asio::detached);
  if (impl_->registry) asio::co_spawn(impl_->io, impl_->revocation_loop(), asio::detached);
  return impl_->acceptor.local_endpoint().port();
}

void TusServer::stop() {
  impl_->stopping = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  impl_->sweep_timer.cancel();
  impl_->revocation_timer.cancel();
  impl_->limiter.close_all();
  if (impl_->landing) impl_->landing->stop();
}

void TusServer::resume_landing() {
  if (impl_->landing) impl_->landing->start();
}

}  // namespace medgw::receiver
