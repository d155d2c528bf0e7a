#include <receiver/tus_server.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/hash.hpp>
#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json.hpp>
#include <base/private_file.hpp>
#include <base/time_format.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <set>

#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

namespace medgw::receiver {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Response = http::response<http::string_body>;

namespace {

constexpr std::string_view tus_version = "1.0.0";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string http_date(std::int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Upload-Metadata: "key base64,key base64" (tus 1.0 creation).
std::optional<std::map<std::string, std::string>> parse_metadata(std::string_view header) {
  std::map<std::string, std::string> out;
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view pair = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto space = pair.find(' ');
    const std::string key(pair.substr(0, space));
    std::string value;
    if (space != std::string_view::npos) {
      auto bytes = base::base64_decode_padded(pair.substr(space + 1));
      if (!bytes) bytes = base::base64_decode_canonical(pair.substr(space + 1));
      if (!bytes) return std::nullopt;
      value.assign(bytes->begin(), bytes->end());
    }
    if (key.empty() || !out.emplace(key, value).second) return std::nullopt;
  }
  return out;
}

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

Response make_response(http::status status, unsigned version, std::string body = {}) {
  Response response(status, version);
  response.set("Tus-Resumable", tus_version);
  response.set(http::field::cache_control, "no-store");
  if (!body.empty()) {
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = std::move(body) + "\n";
  }
  response.prepare_payload();
  return response;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

bool write_at(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
    offset += static_cast<std::uint64_t>(written);
  }
  return true;
}

// Drops what a PATCH wrote past `offset` (a body that failed its checksum).
void discard_from(int fd, std::uint64_t offset) {
  if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot truncate an upload");
  }
}

std::string sha256_of_file(const std::filesystem::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return {};
  crypto::Sha256 hash;
  std::vector<std::uint8_t> block(1 << 20);
  while (true) {
    const ssize_t got = ::read(fd.get(), block.data(), block.size());
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    hash.update(base::ByteView(block.data(), static_cast<std::size_t>(got)));
  }
  return base::to_hex(hash.finish());
}

// The running SHA-256 of an upload whose bytes all went through this process;
// after a restart the file is hashed again at the end.
struct RunningHash {
  crypto::Sha256 hash;
  std::uint64_t through = 0;
};

}  // namespace

struct Completion {
  std::string problem;   // empty: stored (or a duplicate, dropped)
  bool restart = false;  // the bytes do not match: the client sends them again (410)
};

struct TusServer::Impl {
  Impl(asio::io_context& io_context, ReceiverConfig receiver_config, log::Logger log)
      : io(io_context),
        config(std::move(receiver_config)),
        logger(std::move(log)),
        ssl_context(ssl::context::tls_server),
        acceptor(io_context),
        sweep_timer(io_context),
        store((std::filesystem::create_directories(config.data_dir), config.data_dir / "receiver.db")),
        receipt_key(crypto::SigningKey::load_or_create(config.receipt_key)) {
    std::filesystem::create_directories(config.data_dir / "uploads");
    std::filesystem::create_directories(config.data_dir / "store");
    base::require_private_mode(config.key);
    ssl_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ssl_context.native_handle(), TLS1_2_VERSION);
    ssl_context.use_certificate_chain_file(config.cert.string());
    ssl_context.use_private_key_file(config.key.string(), ssl::context::pem);
    ssl_context.load_verify_file(config.ca.string());
    ssl_context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    if (!config.landing.empty()) {
      crypto::KeyFileError error{};
      const base::SecureBytes content = base::read_private_file(config.identity);
      identities.x25519 = crypto::parse_identity_file(base::as_chars(content), error);
      if (identities.x25519.empty()) {
        throw std::runtime_error(config.identity.string() + ": no age identity (AGE-SECRET-KEY-1...) in the file");
      }
    }
  }

  asio::awaitable<void> accept_loop() {
    while (acceptor.is_open()) {
      tcp::socket socket(io);
      boost::system::error_code ec;
      co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    Stream stream(beast::tcp_stream(std::move(socket)), ssl_context);
    const std::string peer = [&] {
      boost::system::error_code ec;
      const auto endpoint = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
      return ec ? std::string("?") : endpoint.address().to_string();
    }();
    try {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      co_await stream.async_handshake(ssl::stream_base::server, asio::use_awaitable);
    } catch (const std::exception& error) {
      logger.warn("receiver.tls_refused", "a TLS handshake failed", {{"peer", peer}, {"error", error.what()}});
      co_return;
    }
    const FacilityEntry* facility = nullptr;
    for (const std::string& name : peer_names(stream.native_handle())) {
      if ((facility = config.facility_of_client(name)) != nullptr) break;
    }
    beast::flat_buffer buffer;
    try {
      while (true) {
        beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
        http::request_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
        Response response = co_await handle(stream, buffer, parser, facility);
        const bool keep_alive = parser.get().keep_alive() && response.keep_alive();
        response.keep_alive(keep_alive);
        beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
        co_await http::async_write(stream, response, asio::use_awaitable);
        if (!keep_alive) break;
      }
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
      co_await stream.async_shutdown(asio::use_awaitable);
    } catch (const std::exception&) {
      // The client went away or timed out; what it sent of a PATCH is kept.
    }
  }

  // Reads and discards a request body we do not use.
  asio::awaitable<bool> drain(Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::buffer_body>& parser) {
    char block[16 << 10];
    std::uint64_t total = 0;
    while (!parser.is_done()) {
      parser.get().body().data = block;
      parser.get().body().size = sizeof block;
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && ec != http::error::need_buffer) co_return false;
      total += sizeof block - parser.get().body().size;
      if (total > (1 << 20)) co_return false;
    }
    co_return true;
  }

  asio::awaitable<Response> handle(Stream& stream, beast::flat_buffer& buffer,
                                   http::request_parser<http::buffer_body>& parser, const FacilityEntry* facility) {
    const auto& request = parser.get();
    const unsigned version = request.version();
    const std::string target(request.target());
    if (facility == nullptr) {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::forbidden, version,
                              "this client certificate is not mapped to a facility in receiver.yaml");
    }
    if (request.method() != http::verb::options && request["Tus-Resumable"] != tus_version) {
      co_await drain(stream, buffer, parser);
      Response response = make_response(http::status::precondition_failed, version, "Tus-Resumable 1.0.0 required");
      response.set("Tus-Version", tus_version);
      co_return response;
    }
    const std::string receipts = config.base_path + "receipts/";
    if (request.method() == http::verb::get && target.starts_with(receipts)) {
      co_await drain(stream, buffer, parser);
      co_return get_receipt(target.substr(receipts.size()), *facility, version);
    }
    if (!target.starts_with(config.base_path)) {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::not_found, version);
    }
    const std::string id = target.substr(config.base_path.size());
    switch (request.method()) {
      case http::verb::options: {
        co_await drain(stream, buffer, parser);
        Response response = make_response(http::status::no_content, version);
        response.set("Tus-Version", tus_version);
        response.set("Tus-Extension", "creation,termination,checksum,expiration");
        response.set("Tus-Checksum-Algorithm", "sha256");
        // Not tus: tells medgw gateways that <base_path>receipts/<object_id>
        // exists for every stored object, so a missing one is an error.
        response.set("Medgw-Receipts", "1");
        response.set("Tus-Max-Size", std::to_string(config.max_upload));
        co_return response;
      }
      case http::verb::post:
        co_await drain(stream, buffer, parser);
        co_return co_await off_loop([&] { return create(request, *facility, version); });
      case http::verb::head: {
        const auto upload = id.empty() ? std::nullopt : store.upload(id);
        if (!upload || upload->facility != facility->code) co_return make_response(http::status::not_found, version);
        Response response = make_response(http::status::ok, version);
        response.set("Upload-Offset", std::to_string(upload->offset));
        response.set("Upload-Length", std::to_string(upload->length));
        response.set("Upload-Expires", http_date(upload->expires_ms));
        co_return response;
      }
      case http::verb::patch:
        co_return co_await patch(stream, buffer, parser, id, *facility);
      case http::verb::delete_: {
        co_await drain(stream, buffer, parser);
        const auto upload = id.empty() ? std::nullopt : store.upload(id);
        if (!upload || upload->facility != facility->code) co_return make_response(http::status::not_found, version);
        forget(id);
        co_return make_response(http::status::no_content, version);
      }
      default:
        co_await drain(stream, buffer, parser);
        co_return make_response(http::status::method_not_allowed, version);
    }
  }

  // Reads and discards a whole body, however large.
  asio::awaitable<void> drain_all(Stream& stream, beast::flat_buffer& buffer,
                                  http::request_parser<http::buffer_body>& parser) {
    std::vector<char> block(256 << 10);
    while (!parser.is_done()) {
      parser.get().body().data = block.data();
      parser.get().body().size = block.size();
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    }
  }

  Response create(const http::request<http::buffer_body>& request, const FacilityEntry& facility, unsigned version) {
    const auto length = number(request["Upload-Length"]);
    if (!length) return make_response(http::status::bad_request, version, "Upload-Length is required");
    if (*length > config.max_upload) return make_response(http::status::payload_too_large, version, "larger than Tus-Max-Size");
    const std::string metadata(request["Upload-Metadata"]);
    const auto fields = parse_metadata(metadata);
    if (!fields) return make_response(http::status::bad_request, version, "Upload-Metadata is malformed");
    const auto claimed = fields->find("facility");
    if (claimed == fields->end() || claimed->second != facility.code) {
      logger.warn("receiver.facility_mismatch", "an upload names another facility than its client certificate",
                  {{"facility", facility.code}});
      return make_response(http::status::forbidden, version, "the facility metadata does not match the client certificate");
    }
    for (const char* required : {"object_id", "seq", "gateway", "sha256", "sig"}) {
      if (!fields->contains(required)) {
        return make_response(http::status::bad_request, version, std::string("Upload-Metadata lacks ") + required);
      }
    }
    std::array<std::uint8_t, 16> random{};
    crypto::random_bytes(random);
    Upload upload{base::to_hex(random), facility.code, *length, 0, metadata,
                  now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(config.expiration).count()};
    {
      const int fd = ::open(partial_file(upload.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) return make_response(http::status::internal_server_error, version, "cannot create the upload");
      ::close(fd);
    }
    store.add_upload(upload);
    Response response = make_response(http::status::created, version);
    response.set(http::field::location, config.base_path + upload.id);
    response.set("Upload-Expires", http_date(upload.expires_ms));
    return response;
  }

  asio::awaitable<Response> patch(Stream& stream, beast::flat_buffer& buffer,
                                  http::request_parser<http::buffer_body>& parser, const std::string& id,
                                  const FacilityEntry& facility) {
    const auto& request = parser.get();
    const unsigned version = request.version();
    auto upload = id.empty() ? std::nullopt : store.upload(id);
    if (!upload || upload->facility != facility.code) {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::not_found, version);
    }
    if (request[http::field::content_type] != "application/offset+octet-stream") {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::unsupported_media_type, version);
    }
    const auto offset = number(request["Upload-Offset"]);
    if (!offset || *offset != upload->offset) {
      co_await drain(stream, buffer, parser);
      Response response = make_response(http::status::conflict, version, "Upload-Offset does not match");
      response.set("Upload-Offset", std::to_string(upload->offset));
      co_return response;
    }
    std::optional<std::string> checksum;
    if (const auto header = request["Upload-Checksum"]; !header.empty()) {
      if (!header.starts_with("sha256 ")) {
        co_await drain(stream, buffer, parser);
        co_return make_response(http::status::bad_request, version, "only sha256 checksums are supported");
      }
      checksum = std::string(header.substr(7));
    }
    if (config.inject_503_every != 0 && ++patches % config.inject_503_every == 0) {
      co_await drain_all(stream, buffer, parser);
      logger.info("receiver.fault_injected", "answered a PATCH with 503 (inject_503_every)", {});
      Response response = make_response(http::status::service_unavailable, version, "injected fault");
      response.set(http::field::retry_after, "1");
      co_return response;
    }
    // One PATCH at a time per upload.
    if (!busy_insert(id)) {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::locked, version, "another PATCH of this upload is in progress");
    }
    struct Release {
      Impl& impl;
      const std::string& id;
      ~Release() { impl.busy_erase(id); }
    } release{*this, id};

    Fd fd(::open(partial_file(id).c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      co_await drain(stream, buffer, parser);
      co_return make_response(http::status::internal_server_error, version);
    }
    RunningHash running = take_hash(id, upload->offset);
    crypto::Sha256 chunk_hash;
    std::vector<char> block(256 << 10);
    std::uint64_t at = upload->offset;
    bool broken = false;
    bool too_long = false;
    while (!parser.is_done()) {
      parser.get().body().data = block.data();
      parser.get().body().size = block.size();
      boost::system::error_code ec;
      beast::get_lowest_layer(stream).expires_after(config.idle_timeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      const std::size_t got = block.size() - parser.get().body().size;
      if (got > 0) {
        if (at + got > upload->length) {
          too_long = true;
          break;
        }
        if (!write_at(fd.get(), block.data(), got, at)) {
          broken = true;
          break;
        }
        const base::ByteView bytes(reinterpret_cast<const std::uint8_t*>(block.data()), got);
        if (running.through == at) {
          running.hash.update(bytes);
          running.through += got;
        }
        if (checksum) chunk_hash.update(bytes);
        at += got;
      }
      if (ec && ec != http::error::need_buffer) {
        broken = true;
        break;
      }
    }
    // No fdatasync per PATCH: bytes in the page cache outlive a crash of this
    // process, and a power loss that drops some is caught at the end (the
    // SHA-256 then differs, and the client is told to start again).
    if (checksum && !broken && !too_long) {
      const auto digest = chunk_hash.finish();
      if (base::base64_encode(digest, true) != *checksum) {
        // tus checksum: a body that does not match is discarded.
        discard_from(fd.get(), upload->offset);
        Response response = make_response(static_cast<http::status>(460), version, "checksum mismatch");
        co_return response;
      }
    }
    if (checksum && (broken || too_long)) {
      discard_from(fd.get(), upload->offset);  // cannot be checked: discard
      at = upload->offset;
    }
    // The database commit and, at the end, fsync, hashing and storing leave
    // the event loop for the blocking pool; the loop keeps serving others.
    const bool record = !(checksum && (broken || too_long));
    const Completion completion = co_await off_loop([&] {
      if (!record) return Completion{};
      put_hash(id, std::move(running));
      // The last byte is recorded only by storing the object: a crash in
      // between must not leave an upload that HEAD reports complete while no
      // object exists (the gateway would then drop its copy).
      if (at != upload->length) store.set_offset(id, at);
      if (broken || too_long || at != upload->length) return Completion{};
      upload->offset = at;
      ::fdatasync(fd.get());
      return complete(*upload, facility);
    });
    if (broken) throw std::runtime_error("connection lost during PATCH");
    if (too_long) co_return make_response(http::status::payload_too_large, version, "more bytes than Upload-Length");
    if (completion.restart) co_return make_response(http::status::gone, version, completion.problem);
    if (!completion.problem.empty()) co_return make_response(http::status::bad_request, version, completion.problem);
    Response response = make_response(http::status::no_content, version);
    response.set("Upload-Offset", std::to_string(at));
    response.set("Upload-Expires", http_date(upload->expires_ms));
    co_return response;
  }

  // Runs `work` on the blocking pool and resumes on the event loop with its result.
  template <class Work>
  asio::awaitable<std::invoke_result_t<Work&>> off_loop(Work work) {
    using Result = std::invoke_result_t<Work&>;
    co_return co_await asio::co_spawn(
        blocking_pool, [&work]() -> asio::awaitable<Result> { co_return work(); }, asio::use_awaitable);
  }

  // Verifies a finished upload and stores it; a problem is returned (and the
  // upload dropped) when the object is not what its metadata says.
  Completion complete(const Upload& upload, const FacilityEntry& facility) {
    const auto fields = *parse_metadata(upload.metadata);
    const std::string& object_id = fields.at("object_id");
    const auto seq = number(fields.at("seq"));
    const std::string& sha256 = fields.at("sha256");
    std::string computed;
    {
      std::lock_guard lock(hashes_mutex);
      if (auto found = hashes.find(upload.id); found != hashes.end() && found->second.through == upload.length) {
        computed = base::to_hex(found->second.hash.finish());
      }
      hashes.erase(upload.id);
    }
    if (computed.empty()) computed = sha256_of_file(partial_file(upload.id));
    auto refuse = [&](const std::string& why, bool restart = false) {
      logger.error("receiver.object_refused", "a finished upload was refused", {{"facility", facility.code}, {"why", why}});
      forget(upload.id);
      return Completion{why, restart};
    };
    if (!seq || object_id.size() != 36) return refuse("object_id or seq metadata is malformed");
    if (computed != sha256) {
      return refuse("the SHA-256 of the bytes received differs from the sha256 metadata; send the object again", true);
    }
    auto signature_bytes = base::base64_decode_padded(fields.at("sig"));
    if (!signature_bytes) signature_bytes = base::base64_decode_canonical(fields.at("sig"));
    if (!signature_bytes || signature_bytes->size() != 64) return refuse("the sig metadata is not an Ed25519 signature");
    crypto::Ed25519Signature signature{};
    std::copy(signature_bytes->begin(), signature_bytes->end(), signature.begin());
    const std::string statement = crypto::object_statement(object_id, *seq, facility.code, sha256);
    bool signed_ok = false;
    for (const crypto::Ed25519PublicKey& key : facility.gateway_keys) {
      if (crypto::verify_signature(key, base::as_bytes(statement), signature)) signed_ok = true;
    }
    if (!signed_ok) return refuse("the object is not signed by a gateway of this facility");

    const std::int64_t received = now_ms();
    const std::string received_at = base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(received)));
    const auto receipt_signature =
        receipt_key.sign(base::as_bytes(crypto::receipt_statement(object_id, *seq, facility.code, sha256, received_at)));
    base::JsonWriter json;
    json.begin_object().field("object_id", object_id).field("seq", *seq).field("facility", facility.code);
    json.field("sha256", sha256).field("received_at", received_at);
    json.field("signature", base::base64_encode(receipt_signature, true)).end_object();

    const std::string relative = facility.code + "/" + std::to_string(*seq) + "-" + object_id + ".age";
    const std::filesystem::path target = config.data_dir / "store" / relative;
    std::filesystem::create_directories(target.parent_path());
    StoredObject object{object_id, facility.code, *seq, sha256, relative, json.take(), false};
    if (store.object(object_id)) {
      logger.info("receiver.duplicate", "an object arrived again; the copy is dropped", {{"facility", facility.code}, {"seq", *seq}});
      forget(upload.id);
      return {};
    }
    std::filesystem::rename(partial_file(upload.id), target);
    base::sync_directory(target.parent_path());
    if (!store.add_object(object, upload.length, received)) {
      std::error_code ec;
      std::filesystem::remove(target, ec);  // a racing duplicate won
    }
    store.remove_upload(upload.id);
    logger.info("receiver.object_received", "an object was received and verified",
                {{"facility", facility.code}, {"seq", *seq}, {"bytes", upload.length}});
    schedule_landing(facility.code);
    return {};
  }

  Response get_receipt(const std::string& object_id, const FacilityEntry& facility, unsigned version) {
    const auto object = store.object(object_id);
    if (!object || object->facility != facility.code) return make_response(http::status::not_found, version);
    Response response(http::status::ok, version);
    response.set("Tus-Resumable", tus_version);
    response.set(http::field::content_type, "application/json");
    response.body() = object->receipt_json;
    response.prepare_payload();
    return response;
  }

  void schedule_landing(const std::string& facility) {
    if (config.landing.empty()) return;
    asio::post(landing_pool, [this, facility] { land_ready(facility); });
  }

  void land_ready(const std::string& facility) {
    while (auto object = store.next_to_land(facility)) {
      try {
        const LandingSummary summary =
            land_object(config.data_dir / "store" / object->file, identities, config.landing / facility);
        store.mark_landed(facility, object->seq);
        logger.info("receiver.landed", "an object was landed",
                    {{"facility", facility}, {"seq", object->seq}, {"written", static_cast<std::uint64_t>(summary.written)},
                     {"renamed", static_cast<std::uint64_t>(summary.renamed)},
                     {"deleted", static_cast<std::uint64_t>(summary.deleted)}});
      } catch (const std::exception& error) {
        logger.error("receiver.landing_failed", "an object could not be landed; landing of this facility stops here",
                     {{"facility", facility}, {"seq", object->seq}, {"error", error.what()}});
        return;
      }
    }
  }

  void forget(const std::string& id) {
    std::error_code ec;
    std::filesystem::remove(partial_file(id), ec);
    store.remove_upload(id);
    std::lock_guard lock(hashes_mutex);
    hashes.erase(id);
  }

  RunningHash take_hash(const std::string& id, std::uint64_t offset) {
    std::lock_guard lock(hashes_mutex);
    auto found = hashes.find(id);
    if (found == hashes.end()) {
      RunningHash fresh;
      if (offset != 0) fresh.through = ~std::uint64_t{0};  // bytes from before a restart: hash the file at the end
      return fresh;
    }
    RunningHash taken = std::move(found->second);
    hashes.erase(found);
    return taken;
  }
  void put_hash(const std::string& id, RunningHash running) {
    std::lock_guard lock(hashes_mutex);
    hashes.insert_or_assign(id, std::move(running));
  }
  bool busy_insert(const std::string& id) {
    std::lock_guard lock(hashes_mutex);
    return busy.insert(id).second;
  }
  void busy_erase(const std::string& id) {
    std::lock_guard lock(hashes_mutex);
    busy.erase(id);
  }

  [[nodiscard]] std::filesystem::path partial_file(const std::string& id) const {
    return config.data_dir / "uploads" / (id + ".part");
  }

  void sweep() {
    for (const std::string& id : store.expired_uploads(now_ms())) {
      logger.info("receiver.upload_expired", "an unfinished upload expired and was removed", {});
      forget(id);
    }
    sweep_timer.expires_after(std::chrono::minutes(1));
    sweep_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) sweep();
    });
  }

  asio::io_context& io;
  ReceiverConfig config;
  log::Logger logger;
  ssl::context ssl_context;
  tcp::acceptor acceptor;
  asio::steady_timer sweep_timer;
  Store store;
  crypto::SigningKey receipt_key;
  crypto::age::Identities identities;
  asio::thread_pool blocking_pool{2};  // fsync, hashing after a restart, SQLite commits
  asio::thread_pool landing_pool{1};   // one thread: a facility's objects land in seq order
  std::mutex hashes_mutex;
  std::map<std::string, RunningHash> hashes;
  std::set<std::string> busy;
  std::atomic<std::uint64_t> patches{0};
};

TusServer::TusServer(asio::io_context& io, ReceiverConfig config, log::Logger logger)
    : impl_(std::make_unique<Impl>(io, std::move(config), std::move(logger))) {}

TusServer::~TusServer() {
  if (impl_) impl_->landing_pool.join();
}

std::uint16_t TusServer::start() {
  const std::string& listen = impl_->config.listen;
  const auto colon = listen.rfind(':');
  const auto address = asio::ip::make_address(listen.substr(0, colon));
  const auto port = number(listen.substr(colon + 1));
  if (colon == std::string::npos || !port || *port > 65535) {
    throw std::runtime_error("listen must be IP:port, e.g. 127.0.0.1:8443");
  }
  const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(*port));
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->sweep();
  return impl_->acceptor.local_endpoint().port();
}

void TusServer::stop() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  impl_->sweep_timer.cancel();
}

void TusServer::resume_landing() {
  for (const FacilityEntry& facility : impl_->config.facilities) impl_->schedule_landing(facility.code);
}

}  // namespace medgw::receiver
