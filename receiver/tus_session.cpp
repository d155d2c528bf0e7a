// TusServer: one connection. TLS first (handshake_timeout; the connection
// is evictable until it is done), then the client certificate names the
// facility, then requests one at a time with idle_timeout between them.
// Identifiers in the target are validated before any lookup.
#include <receiver/tus_server_impl.hpp>

#include <receiver/identifiers.hpp>
#include <receiver/files.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>

#include <boost/asio/redirect_error.hpp>

#include <chrono>

#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

namespace medgw::receiver {
namespace {

// The names a client certificate goes by: subject CN and DNS SANs.
std::vector<std::string> peer_names(SSL* ssl) {
  std::vector<std::string> names;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return names;
  char cn[256];
  const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (length > 0) names.emplace_back(cn, static_cast<std::size_t>(length));
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const auto* data = ASN1_STRING_get0_data(name->d.dNSName);
      names.emplace_back(reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);
  }
  return names;
}

http::response<http::string_body> to_response(const TusAnswer& answer, unsigned version) {
  http::response<http::string_body> response(static_cast<http::status>(answer.status), version);
  response.set("Tus-Resumable", tus_version);
  response.set(http::field::cache_control, "no-store");
  // Gateways compare their clock with it (medgw doctor): receipts and
  // certificates are judged by the clock.
  response.set(http::field::date, http_date(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count()));
  for (const auto& [name, value] : answer.headers) response.set(name, value);
  if (!answer.body.empty()) {
    if (answer.header("Content-Type") == nullptr) response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = answer.body.ends_with('\n') || answer.header("Content-Type") != nullptr ? answer.body : answer.body + "\n";
  }
  response.prepare_payload();
  return response;
}

constexpr std::uint64_t small_body = 64 << 10;  // what a request other than PATCH may carry

}  // namespace

asio::awaitable<bool> TusServer::Impl::first_bytes(tcp::socket& socket) {
  asio::steady_timer deadline(io);
  deadline.expires_after(config.handshake_timeout);
  // The deadline's handler may already be queued when the wait ends (cancel
  // cannot recall it): it then finds `waiting` false and leaves the socket,
  // which may be gone by then, alone.
  const auto waiting = std::make_shared<bool>(true);
  deadline.async_wait([&socket, waiting](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec && *waiting) socket.close(ignored);
  });
  boost::system::error_code ec;
  co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  *waiting = false;
  deadline.cancel();
  if (ec || !socket.is_open()) co_return false;
  // Closed without a word: no TLS stream for it.
  char first = 0;
  const std::size_t peeked = socket.receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
  co_return !ec && peeked == 1;
}

asio::awaitable<void> TusServer::Impl::session(tcp::socket socket) {
  std::optional<Stream> stream;
  auto close = [&socket, &stream] {
    boost::system::error_code ignored;
    if (stream) {
      beast::get_lowest_layer(*stream).socket().close(ignored);
    } else {
      socket.close(ignored);
    }
  };
  ConnectionLimiter::Slot slot = limiter.admit(close);
  if (!slot.admitted()) {
    // Every connection is authenticated and the cap is reached: closed before
    // any TLS (the gateway retries with back-off).
    close();
    if (const auto suppressed = may_log(refused_log)) {
      logger.warn("receiver.connection_refused", "a connection was refused: max_connections reached",
                  {{"open", limiter.counters().open}, {"suppressed_before", *suppressed}});
    }
    co_return;
  }
  const std::string address = [&] {
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("?") : endpoint.address().to_string();
  }();
  // An idle connection costs a socket, not TLS buffers (about 90 KiB): the
  // TLS stream is made when the client speaks, within handshake_timeout.
  bool handshaken = co_await first_bytes(socket);
  std::string error = "no ClientHello within handshake_timeout";
  if (handshaken) {
    stream.emplace(beast::tcp_stream(std::move(socket)), ssl_context);
    try {
      beast::get_lowest_layer(*stream).expires_after(config.handshake_timeout);
      co_await stream->async_handshake(ssl::stream_base::server, asio::use_awaitable);
    } catch (const std::exception& failure) {
      handshaken = false;
      error = failure.what();
    }
  }
  if (!handshaken) {
    if (const auto suppressed = may_log(tls_log)) {
      logger.warn("receiver.tls_refused", "a TLS handshake failed or timed out",
                  {{"peer", address}, {"error", error}, {"suppressed_before", *suppressed}});
    }
    co_return;
  }
  Peer peer;
  peer.certificate = describe_certificate(SSL_get0_peer_certificate(stream->native_handle()));
  for (const std::string& name : peer_names(stream->native_handle())) {
    if ((peer.facility = config.facility_of_client(name)) != nullptr) break;
  }
  const FacilityEntry* facility = peer.facility;
  try {
    // A client without a certificate (it came to enroll) stays evictable
    // like a handshake: it costs an attacker nothing.
    if (peer.has_certificate() && !limiter.authenticated(slot, facility != nullptr ? facility->code : std::string())) {
      logger.warn("receiver.facility_connections", "a facility holds max_connections_per_facility; one more refused",
                  {{"facility", facility->code}});
      TusAnswer busy = tus_answer(503, "this facility holds too many connections; try again");
      busy.headers.emplace_back("Retry-After", "5");
      auto response = to_response(busy, 11);
      response.keep_alive(false);
      beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(5));
      co_await http::async_write(*stream, response, asio::use_awaitable);
      co_return;
    }
    co_await serve(*stream, peer);
  } catch (const std::exception&) {
    // The client went away or timed out; what it sent of a PATCH is kept.
  }
}

asio::awaitable<void> TusServer::Impl::serve(Stream& stream, const Peer& peer) {
  beast::flat_buffer buffer;
  while (!stopping) {
    beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
    Parser parser;
    parser.header_limit(16 << 10);
    parser.body_limit(boost::none);
    co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
    const TusAnswer answer = co_await handle(stream, buffer, parser, peer);
    auto response = to_response(answer, parser.get().version());
    const bool keep_alive = parser.get().keep_alive() && !answer.close && !stopping;
    response.keep_alive(keep_alive);
    beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
    co_await http::async_write(stream, response, asio::use_awaitable);
    if (!keep_alive) break;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(asio::use_awaitable);
}

asio::awaitable<bool> TusServer::Impl::drain(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                             std::uint64_t limit) {
  char block[16 << 10];
  std::uint64_t total = 0;
  while (!parser.is_done()) {
    parser.get().body().data = block;
    parser.get().body().size = sizeof block;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != http::error::need_buffer) co_return false;
    total += sizeof block - parser.get().body().size;
    if (total > limit) co_return false;
  }
  co_return true;
}

asio::awaitable<TusAnswer> TusServer::Impl::handle(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                                   const Peer& peer) {
  const TusRequest request = tus_request(parser);
  const auto method = parser.get().method();
  if (issuing_ca && request.target.starts_with(est_path)) co_return co_await est(stream, buffer, parser, peer);
  if (issuing_ca) {
    // Without the enrollment service TLS itself refuses these.
    if (auto refused = refusal(peer)) {
      refused->close = true;
      co_return *refused;
    }
  }
  const FacilityEntry* facility = peer.facility;
  if (facility != nullptr && request.target.starts_with(config.backup_path)) {
    co_return co_await backup(stream, buffer, parser, *facility);
  }
  if (method == http::verb::patch && facility != nullptr && request.tus_resumable == tus_version) {
    if (const auto id = protocol.upload_id_of(request.target)) co_return co_await patch(stream, buffer, parser, *id, *facility);
  }
  // Every other request carries no body we use.
  const bool drained = co_await drain(stream, buffer, parser, small_body);
  TusAnswer answer;
  const std::string receipts = config.base_path + "receipts/";
  const std::string erasures = config.base_path + "erasures/";
  const auto id = protocol.upload_id_of(request.target);
  if (facility == nullptr) {
    answer = tus_answer(403, "this client certificate is not mapped to a facility in receiver.yaml");
    answer.close = true;
  } else if (method != http::verb::options && request.tus_resumable != tus_version) {
    answer = tus_answer(412, "Tus-Resumable 1.0.0 required");
    answer.headers.emplace_back("Tus-Version", std::string(tus_version));
  } else if (method == http::verb::get && request.target.starts_with(receipts)) {
    answer = co_await receipt(request.target.substr(receipts.size()), *facility);
  } else if (method == http::verb::get && request.target.starts_with(erasures)) {
    answer = co_await erasure(request.target.substr(erasures.size()), *facility);
  } else if (method == http::verb::options && request.target.starts_with(config.base_path)) {
    answer = protocol.options();
  } else if (method == http::verb::post && request.target == config.base_path) {
    answer = co_await create(request, *facility);
  } else if (method == http::verb::head && id) {
    answer = protocol.head(*id, *facility);
  } else if (method == http::verb::delete_ && id) {
    answer = co_await terminate(*id, *facility);
  } else if (method == http::verb::patch) {
    answer = tus_answer(404);  // no such upload (or not a valid upload ID)
  } else if (!request.target.starts_with(config.base_path) || (!id && method != http::verb::post)) {
    answer = tus_answer(404);
  } else {
    answer = tus_answer(405);
  }
  if (!drained) answer.close = true;
  co_return answer;
}

asio::awaitable<TusAnswer> TusServer::Impl::receipt(std::string object_id, const FacilityEntry& facility) {
  if (!is_canonical_uuid(object_id)) co_return tus_answer(404);
  const auto object = co_await off_loop([&] { return store.object(object_id); });
  if (!object || object->facility != facility.code) co_return tus_answer(404);
  TusAnswer answer = tus_answer(200, object->receipt_json);
  answer.headers.emplace_back("Content-Type", "application/json");
  co_return answer;
}

// 200: the object's withdrawals are erased (the signed erasure receipt);
// 202: stored, not landed yet (or quarantined): ask again later; 404: no
// such object of this facility, or it withdrew nobody.
asio::awaitable<TusAnswer> TusServer::Impl::erasure(std::string object_id, const FacilityEntry& facility) {
  if (!is_canonical_uuid(object_id)) co_return tus_answer(404);
  const auto found = co_await off_loop([&] {
    std::pair<std::optional<StoredObject>, std::optional<std::string>> out{store.object(object_id), std::nullopt};
    if (out.first) out.second = store.erasure_receipt(object_id);
    return out;
  });
  const auto& [object, receipt] = found;
  if (!object || object->facility != facility.code) co_return tus_answer(404);
  if (receipt) {
    TusAnswer answer = tus_answer(200, *receipt);
    answer.headers.emplace_back("Content-Type", "application/json");
    co_return answer;
  }
  if (object->landing == LandingState::pending || object->landing == LandingState::quarantined) {
    TusAnswer answer = tus_answer(202, "the object is not landed yet; its erasure is not done; ask again later");
    answer.headers.emplace_back("Retry-After", "30");
    co_return answer;
  }
  co_return tus_answer(404, "the object withdrew no patient (or was skipped)");
}

asio::awaitable<TusAnswer> TusServer::Impl::create(const TusRequest& request, const FacilityEntry& facility) {
  std::array<std::uint8_t, 16> random{};
  crypto::random_bytes(random);
  const std::string id = base::to_hex(random);
  const auto free = free_bytes(config.data_dir);
  auto created = protocol.create(request, facility, free ? *free : 0, unix_ms(), id);
  if (!created) {
    // 400/403: the client sent what no gateway sends; 429/507: a limit.
    const bool limit = created.error().status == 429 || created.error().status == 507;
    if (const auto suppressed = may_log(limit ? limit_log : refused_upload_log)) {
      logger.warn(limit ? "receiver.upload_limited" : "receiver.upload_refused",
                  limit ? "an upload was put off: a facility limit or the disk's free space (see receiver.yaml limits)"
                        : "an upload was refused at creation",
                  {{"facility", facility.code}, {"status", created.error().status}, {"why", created.error().body},
                   {"suppressed_before", *suppressed}});
    }
    co_return created.error();
  }
  const Upload upload = created->first;
  const bool persisted = co_await off_loop([&] {
    const auto partial = partial_upload_file(config.data_dir, upload.id);
    if (!partial) return false;
    UniqueFd fd(::open(partial->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return false;
    try {
      store.add_upload(upload);
    } catch (const std::exception&) {
      std::error_code ec;
      std::filesystem::remove(*partial, ec);
      return false;
    }
    return true;
  });
  if (!persisted) {
    protocol.drop(upload.id);
    logger.error("receiver.upload_not_created", "an upload could not be created (disk or receiver.db)",
                 {{"facility", facility.code}});
    TusAnswer answer = tus_answer(503, "the receiver cannot create the upload now; try again");
    answer.headers.emplace_back("Retry-After", "30");
    co_return answer;
  }
  co_return created->second;
}

asio::awaitable<TusAnswer> TusServer::Impl::terminate(const std::string& id, const FacilityEntry& facility) {
  TusAnswer answer = protocol.terminate(id, facility);
  if (answer.status != 204) co_return answer;
  protocol.drop(id);
  co_await off_loop([&] {
    completer.forget(id);
    return 0;
  });
  co_return answer;
}

}  // namespace medgw::receiver
