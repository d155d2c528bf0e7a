#include <daemon/delivery/uploader.hpp>

#include <daemon/delivery/curl_driver.hpp>

#include <crypto/hash.hpp>
#include <crypto/random.hpp>
#include <crypto/signing.hpp>

#include <base/base64.hpp>
#include <base/curl_handles.hpp>
#include <base/hex.hpp>
#include <base/json_reader.hpp>
#include <base/private_file.hpp>
#include <base/time_format.hpp>

#include <algorithm>
#include <cctype>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

using Clock = std::chrono::steady_clock;

using base::curl::Easy;
using base::curl::Multi;
using base::curl::Slist;

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

std::string b64(std::string_view text) { return base::base64_encode(base::as_bytes(text), true); }

// scheme, host and port of a URL (default ports filled in), or nullopt.
struct Origin {
  std::string scheme, host, port;
  bool operator==(const Origin&) const = default;
};
std::optional<Origin> origin_of(const std::string& url) {
  base::curl::Url parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* value = nullptr;
    if (curl_url_get(parsed.get(), which, &value, flags) != CURLUE_OK || value == nullptr) return {};
    std::string out(value);
    curl_free(value);
    return out;
  };
  Origin origin{lower(part(CURLUPART_SCHEME, 0)), lower(part(CURLUPART_HOST, 0)), part(CURLUPART_PORT, CURLU_DEFAULT_PORT)};
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
  char* value = nullptr;
  if (curl_url_get(parsed.get(), CURLUPART_URL, &value, 0) != CURLUE_OK || value == nullptr) return std::nullopt;
  std::string resolved(value);
  curl_free(value);
  if (origin_of(resolved) != origin_of(endpoint)) return std::nullopt;
  return resolved;
}

std::string read_password(const std::filesystem::path& file) {
  const base::SecureBytes bytes = base::read_private_file(file);
  std::string text(bytes.begin(), bytes.end());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// TLS refused by either side: retrying cannot help, an operator must act.
// With TLS 1.3 the server's refusal of our certificate arrives as an alert on
// the first read, so a read/send error carrying a TLS alert counts too.
bool tls_refused(CURLcode code, std::string_view error) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return error.find(" alert ") != std::string_view::npos;
    default:
      return false;
  }
}

enum class Step { create, head, patch, receipt };

// How a failed request is treated.
enum class Outcome { retry, resync, restart, reject, hard };

struct Transfer {
  spool::QueuedObject object;
  Step step = Step::create;
  std::string url;
  std::uint64_t offset = 0;
  std::uint64_t recorded = 0;  // the offset last written to the spool
  int failures = 0;  // in a row, without progress
  int restarts = 0;  // uploads the central lost (404/410) in this run
  Clock::time_point wake{};
  // The request in flight.
  Easy easy;
  Slist headers;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> response_headers;
  char error[CURL_ERROR_SIZE] = {};
  int fd = -1;
  std::uint64_t send_at = 0;
  std::uint64_t send_end = 0;
  // The checksum of the next piece, computed on another thread while this
  // one is on the wire (the header must be sent before the body).
  std::uint64_t prepared_at = 0;
  std::future<std::string> prepared;

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (prepared.valid()) prepared.wait();  // it reads `fd`
    if (fd >= 0) ::close(fd);
  }
};

// base64 SHA-256 of [from, to) of the file (tus Upload-Checksum).
std::string piece_checksum(int fd, std::uint64_t from, std::uint64_t to) {
  crypto::Sha256 hash;
  std::vector<std::uint8_t> block(1 << 20);
  for (std::uint64_t at = from; at < to;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), to - at));
    const ssize_t got = ::pread(fd, block.data(), want, static_cast<off_t>(at));
    if (got <= 0) break;  // the send fails the same way, and is retried
    hash.update(base::ByteView(block.data(), static_cast<std::size_t>(got)));
    at += static_cast<std::uint64_t>(got);
  }
  return base::base64_encode(hash.finish(), true);
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->body.size() < (1 << 20)) transfer->body.append(data, size * count);
  return size * count;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) transfer->response_headers.clear();  // a new response (after 100, or a proxy's)
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    transfer->response_headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * count;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::uint64_t left = transfer->send_end - transfer->send_at;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, size * count));
  if (want == 0) return 0;
  const ssize_t got = ::pread(transfer->fd, buffer, want, static_cast<off_t>(transfer->send_at));
  if (got <= 0) return CURL_READFUNC_ABORT;
  transfer->send_at += static_cast<std::uint64_t>(got);
  return static_cast<std::size_t>(got);
}

// What /metrics calls a failed request.
UploadErrorClass classify_failure(CURLcode code, long status, Outcome outcome) {
  if (code != CURLE_OK) {
    if (outcome == Outcome::hard) return UploadErrorClass::tls;
    return code == CURLE_OPERATION_TIMEDOUT ? UploadErrorClass::timeout : UploadErrorClass::connect;
  }
  if (outcome == Outcome::reject) return UploadErrorClass::rejected;
  if (status >= 500) return UploadErrorClass::http_5xx;
  if (status >= 400) return UploadErrorClass::http_4xx;
  return UploadErrorClass::protocol;
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view upload_error_class_name(UploadErrorClass error_class) {
  switch (error_class) {
    case UploadErrorClass::tls: return "tls";
    case UploadErrorClass::connect: return "connect";
    case UploadErrorClass::timeout: return "timeout";
    case UploadErrorClass::http_5xx: return "http_5xx";
    case UploadErrorClass::http_4xx: return "http_4xx";
    case UploadErrorClass::protocol: return "protocol";
    case UploadErrorClass::rejected: return "rejected";
    case UploadErrorClass::receipt_invalid: return "receipt_invalid";
  }
  return "unknown";
}

void UploadCounters::count_error(UploadErrorClass error_class) {
  errors.at(static_cast<std::size_t>(error_class)).fetch_add(1, std::memory_order_relaxed);
  std::int64_t none = 0;
  failing_since_ms.compare_exchange_strong(none, unix_ms());
}

void UploadCounters::count_success() { failing_since_ms.store(0); }

void check_client_credentials(const CentralConfig& central) {
  for (const auto& [key, file] : {std::pair{"central.ca", central.ca}, {"central.cert", central.cert}}) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(std::string(key) + ": cannot read " + file.string());
  }
  // Throws naming the file and the chmod that fixes it.
  base::require_private_mode(central.key);
  if (!central.key_password_file.empty()) base::require_private_mode(central.key_password_file);
}

Uploader::Uploader(const CentralConfig& central, std::string facility, std::string gateway, spool::Spool& spool,
                   log::Logger logger)
    : central_(central), facility_(std::move(facility)), gateway_(std::move(gateway)), spool_(spool), logger_(std::move(logger)) {}

UploadReport Uploader::drain(const DrainOptions& options) {
  boost::asio::io_context io;
  UploadReport result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, drain_async(options), [&](std::exception_ptr error, UploadReport report) {
    failure = error;
    result = std::move(report);
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return result;
}

boost::asio::awaitable<UploadReport> Uploader::drain_async(DrainOptions options) {
  UploadReport report;
  const auto started = Clock::now();
  auto finish = [&]() -> UploadReport {
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return report;
  };
  auto in_window = [&] {
    if (central_.window.always) return true;
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return central_.window.contains(local.tm_hour * 60 + local.tm_min);
  };
  if (!in_window()) {
    report.outside_window = true;
    co_return finish();
  }
  if (spool_.due(1).empty()) co_return finish();  // nothing to send: do not contact the central
  try {
    check_client_credentials(central_);
  } catch (const std::exception& error) {
    report.hard_error = true;
    report.error = error.what();
    co_return finish();
  }
  std::optional<crypto::Ed25519PublicKey> receipt_key;
  if (!central_.receipt_key.empty()) {
    std::ifstream in(central_.receipt_key);
    std::string text;
    std::getline(in, text);
    receipt_key = crypto::parse_public_key_text(trim(text));
    if (!receipt_key) {
      report.hard_error = true;
      report.error = "central.receipt_key: " + central_.receipt_key.string() +
                     " does not hold the central's receipt key (one line ed25519:<base64>)";
      co_return finish();
    }
  }
  const std::string password = central_.key_password_file.empty() ? std::string() : read_password(central_.key_password_file);
  std::string pins;
  for (const std::string& pin : central_.pins) pins += (pins.empty() ? "" : ";") + pin;
  std::string endpoint = central_.url;
  if (!endpoint.ends_with('/')) endpoint.push_back('/');

  Multi multi(curl_multi_init());
  curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.parallel));
  CurlDriver driver(co_await boost::asio::this_coro::executor, multi.get());
  if (options.control != nullptr) options.control->wake = [&driver] { driver.wake(); };
  // The control outlives this drain; its wake must not.
  struct Unhook {
    Control* control;
    ~Unhook() {
      if (control != nullptr) control->wake = nullptr;
    }
  } unhook{options.control};
  auto stop_requested = [&] { return options.control != nullptr && options.control->stop; };
  std::mt19937_64 random(std::random_device{}());
  bool checksum_offered = false;
  bool receipts_offered = false;  // medgw-receiver: every stored object has a receipt

  // Applies the TLS, proxy and stall settings common to every request.
  auto prepare = [&](Transfer& t, const std::string& url) {
    t.easy.reset(curl_easy_init());
    CURL* e = t.easy.get();
    t.status = 0;
    t.body.clear();
    t.response_headers.clear();
    t.error[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    // Only the configured private CA; never the system store.
    curl_easy_setopt(e, CURLOPT_CAINFO, central_.ca.c_str());
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION,
                     central_.tls_min == "1.2" ? CURL_SSLVERSION_TLSv1_2 : CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(e, CURLOPT_SSLCERT, central_.cert.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, central_.key.c_str());
    if (!password.empty()) curl_easy_setopt(e, CURLOPT_KEYPASSWD, password.c_str());
    if (!pins.empty()) curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, pins.c_str());
    // An empty proxy also ignores *_proxy environment variables.
    curl_easy_setopt(e, CURLOPT_PROXY, central_.proxy.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    // Stall detection, never a total-transfer timeout.
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    t.headers.reset(curl_slist_append(nullptr, "Tus-Resumable: 1.0.0"));
    t.headers.reset(curl_slist_append(t.headers.release(), "Expect:"));
  };
  auto add_header = [](Transfer& t, const std::string& header) {
    t.headers.reset(curl_slist_append(t.headers.release(), header.c_str()));
  };
  std::size_t active = 0;
  auto launch = [&](Transfer& t) {
    CURL* e = nullptr;
    switch (t.step) {
      case Step::create: {
        prepare(t, endpoint);
        e = t.easy.get();
        const auto created = std::chrono::system_clock::time_point(std::chrono::milliseconds(t.object.created_ms));
        const std::string metadata =
            "object_id " + b64(t.object.object_id) + ",seq " + b64(std::to_string(t.object.seq)) + ",facility " +
            b64(facility_) + ",gateway " + b64(gateway_) + ",sha256 " + b64(t.object.sha256) + ",sig " +
            b64(base::base64_encode(t.object.signature, true)) + ",created " + b64(base::rfc3339_utc(created));
        add_header(t, "Upload-Length: " + std::to_string(t.object.size));
        add_header(t, "Upload-Metadata: " + metadata);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        break;
      }
      case Step::head:
        prepare(t, t.url);
        e = t.easy.get();
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
      case Step::patch: {
        prepare(t, t.url);
        e = t.easy.get();
        if (t.fd < 0) t.fd = ::open(t.object.file.c_str(), O_RDONLY | O_CLOEXEC);
        t.send_at = t.offset;
        t.send_end = std::min(t.object.size, t.offset + central_.chunk);
        add_header(t, "Content-Type: application/offset+octet-stream");
        add_header(t, "Upload-Offset: " + std::to_string(t.offset));
        if (checksum_offered && t.fd >= 0) {
          std::string checksum;
          if (t.prepared.valid()) {
            checksum = t.prepared.get();
            if (t.prepared_at != t.send_at) checksum.clear();  // resumed elsewhere: not this piece
          }
          if (checksum.empty()) checksum = piece_checksum(t.fd, t.send_at, t.send_end);
          add_header(t, "Upload-Checksum: sha256 " + checksum);
          if (t.send_end < t.object.size) {
            const std::uint64_t next_end = std::min(t.object.size, t.send_end + central_.chunk);
            t.prepared_at = t.send_end;
            t.prepared = std::async(std::launch::async, piece_checksum, t.fd, t.send_end, next_end);
          }
        }
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);  // fewer, larger TLS writes
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &t);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.send_end - t.send_at));
        if (central_.bandwidth > 0) {
          curl_easy_setopt(e, CURLOPT_MAX_SEND_SPEED_LARGE,
                           static_cast<curl_off_t>(std::max<std::uint64_t>(1024, central_.bandwidth / std::max<std::size_t>(1, active + 1))));
        }
        break;
      }
      case Step::receipt:
        prepare(t, endpoint + "receipts/" + t.object.object_id);
        e = t.easy.get();
        break;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get());
    curl_multi_add_handle(multi.get(), e);
    ++active;
  };

  // OPTIONS once: which extensions the server offers (checksum).
  {
    Transfer probe;
    prepare(probe, endpoint);
    curl_easy_setopt(probe.easy.get(), CURLOPT_CUSTOMREQUEST, "OPTIONS");
    curl_easy_setopt(probe.easy.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(probe.easy.get(), CURLOPT_HTTPHEADER, probe.headers.get());
    curl_multi_add_handle(multi.get(), probe.easy.get());
    std::optional<CURLcode> result;
    while (!result && !stop_requested()) {
      driver.process();
      int left = 0;
      while (CURLMsg* message = curl_multi_info_read(multi.get(), &left)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == probe.easy.get()) result = message->data.result;
      }
      if (!result) co_await driver.wait(std::chrono::seconds(1));
    }
    curl_multi_remove_handle(multi.get(), probe.easy.get());
    if (!result) {
      report.stopped = true;
      co_return finish();
    }
    const CURLcode code = *result;
    if (tls_refused(code, probe.error)) {
      if (options.counters != nullptr) options.counters->count_error(UploadErrorClass::tls);
      report.hard_error = true;
      report.error = "TLS with the central failed: " + std::string(probe.error[0] ? probe.error : curl_easy_strerror(code)) +
                     " (check central.ca, central.cert/key, central.pin and the central's certificate); nothing was sent";
      logger_.error("upload.tls_refused", "TLS with the central failed; nothing was sent", {{"error", report.error}});
      co_return finish();
    }
    const auto extensions = probe.response_headers.find("tus-extension");
    const auto algorithms = probe.response_headers.find("tus-checksum-algorithm");
    receipts_offered = probe.response_headers.contains("medgw-receipts");
    checksum_offered = extensions != probe.response_headers.end() && extensions->second.find("checksum") != std::string::npos &&
                       algorithms != probe.response_headers.end() && algorithms->second.find("sha256") != std::string::npos;
  }

  std::deque<std::unique_ptr<Transfer>> waiting;  // not started, or backing off
  std::map<std::string, std::unique_ptr<Transfer>> running;
  std::set<std::string> known;
  // New objects are looked for when a slot could use one: at once after a
  // request finished, otherwise at most every 250 ms (not at every socket
  // event: a query each time slows a large upload down).
  auto last_refill = Clock::time_point{};
  bool finished_since_refill = true;
  auto refill = [&] {
    if (waiting.size() + running.size() >= options.parallel * 2) return;
    const auto now = Clock::now();
    if (!finished_since_refill && !(waiting.empty() && running.empty()) &&
        now - last_refill < std::chrono::milliseconds(250)) {
      return;
    }
    last_refill = now;
    finished_since_refill = false;
    for (spool::QueuedObject& object : spool_.due(options.parallel * 4)) {
      if (known.contains(object.object_id)) continue;
      known.insert(object.object_id);
      auto t = std::make_unique<Transfer>();
      t->url = object.upload_url;
      t->offset = object.upload_offset;
      t->step = t->url.empty() ? Step::create : Step::head;
      t->object = std::move(object);
      waiting.push_back(std::move(t));
    }
  };
  auto backoff = [&](Transfer& t, std::optional<std::chrono::seconds> retry_after) {
    ++t.failures;
    ++report.retries;
    const auto cap = std::min<std::int64_t>(options.backoff_cap.count(),
                                            options.backoff_base.count() << std::min(t.failures, 16));
    std::chrono::milliseconds delay(std::uniform_int_distribution<std::int64_t>(0, cap)(random));
    if (retry_after) delay = std::max<std::chrono::milliseconds>(delay, *retry_after);
    t.wake = Clock::now() + delay;
  };
  auto give_up = [&](Transfer& t, const std::string& why) {
    report.hard_error = true;
    report.error = why;
    spool_.record_failure(t.object.object_id, why, std::chrono::system_clock::now());
  };

  // The central lost the upload, or asks for the object again: a new upload,
  // a few times; more means something is wrong there.
  auto restart = [&](Transfer& t, long status) {
    spool_.reset_upload(t.object.object_id);
    t.url.clear();
    t.step = Step::create;
    if (++t.restarts > 3) {
      give_up(t, "the central lost or refused the upload of the same object " + std::to_string(t.restarts) +
                     " times (HTTP " + std::to_string(status) + "); see the central's log");
    }
  };

  refill();
  while (!report.hard_error) {
    if (stop_requested()) {
      report.stopped = true;
      break;
    }
    if (!in_window()) {
      report.outside_window = true;
      break;
    }
    // Start what is due.
    const auto now = Clock::now();
    for (auto it = waiting.begin(); it != waiting.end() && running.size() < options.parallel;) {
      if ((*it)->wake > now) {
        ++it;
        continue;
      }
      std::unique_ptr<Transfer> t = std::move(*it);
      it = waiting.erase(it);
      launch(*t);
      const std::string id = t->object.object_id;
      running.emplace(id, std::move(t));
    }
    if (running.empty() && waiting.empty()) {
      refill();
      if (waiting.empty()) break;  // the spool is empty (or holds only rejected objects)
      continue;
    }
    driver.process();
    while (true) {
      int left = 0;
      CURLMsg* message = curl_multi_info_read(multi.get(), &left);
      if (message == nullptr) break;
      if (message->msg != CURLMSG_DONE) continue;
      CURL* e = message->easy_handle;
      const CURLcode code = message->data.result;
      Transfer* raw = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &raw);
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &raw->status);
      curl_off_t uploaded = 0;
      curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &uploaded);
      if (raw->step == Step::patch) {
        report.bytes_sent += static_cast<std::uint64_t>(uploaded);
        if (options.counters != nullptr) options.counters->bytes_sent += static_cast<std::uint64_t>(uploaded);
      }
      curl_multi_remove_handle(multi.get(), e);
      --active;
      finished_since_refill = true;
      auto node = running.extract(raw->object.object_id);
      std::unique_ptr<Transfer> t = std::move(node.mapped());
      const auto header = [&](const char* name) -> std::string {
        const auto found = t->response_headers.find(name);
        return found == t->response_headers.end() ? std::string() : found->second;
      };
      std::optional<std::chrono::seconds> retry_after;
      if (auto seconds = to_number(header("retry-after"))) retry_after = std::chrono::seconds(std::min<std::uint64_t>(*seconds, 3600));

      bool done = false;
      std::optional<Outcome> failure;
      std::string why;
      if (code != CURLE_OK) {
        why = t->error[0] != '\0' ? std::string(t->error) : std::string(curl_easy_strerror(code));
        failure = tls_refused(code, why) ? Outcome::hard : Outcome::retry;
      } else {
        const long status = t->status;
        switch (t->step) {
          case Step::create: {
            if (status == 201) {
              const auto url = resolve_location(endpoint, header("location"));
              if (!url) {
                why = "the central answered with an upload Location on another scheme, host or port; refused";
                failure = Outcome::retry;
                break;
              }
              t->url = *url;
              t->offset = 0;
              spool_.mark_uploading(t->object.object_id, t->url);  // persisted before any data is sent
              t->step = t->object.size == 0 ? Step::head : Step::patch;
              t->failures = 0;
            } else {
              why = "creating the upload: HTTP " + std::to_string(status);
            }
            break;
          }
          case Step::head: {
            if (status == 404 || status == 410) {
              restart(*t, status);
            } else if (status == 200 || status == 204) {
              const auto offset = to_number(header("upload-offset"));
              if (!offset || *offset > t->object.size) {
                why = "the central reported no usable Upload-Offset";
                failure = Outcome::retry;
              } else {
                t->offset = *offset;
                t->step = t->offset == t->object.size ? Step::receipt : Step::patch;
              }
            } else {
              why = "resuming the upload: HTTP " + std::to_string(status);
            }
            break;
          }
          case Step::patch: {
            if (status == 204 || status == 200) {
              const auto offset = to_number(header("upload-offset"));
              if (!offset || *offset < t->offset || *offset > t->object.size) {
                why = "the central reported an unexpected Upload-Offset";
                failure = Outcome::resync;
              } else {
                t->offset = *offset;
                // For status only (after a failure the server's HEAD is the
                // truth): recorded every 64 MiB, not at every piece.
                if (t->offset - t->recorded >= (64ULL << 20) && t->offset != t->object.size) {
                  spool_.record_offset(t->object.object_id, t->offset);
                  t->recorded = t->offset;
                }
                t->failures = 0;
                if (options.counters != nullptr) options.counters->count_success();
                t->step = t->offset == t->object.size ? Step::receipt : Step::patch;
              }
            } else if (status == 404 || status == 410) {
              restart(*t, status);
            } else if (status == 409 || status == 460) {
              why = "the upload's offset or checksum did not match (HTTP " + std::to_string(status) + ")";
              failure = Outcome::resync;
            } else {
              why = "sending data: HTTP " + std::to_string(status);
            }
            break;
          }
          case Step::receipt: {
            std::string receipt;
            if (receipts_offered && status == 404) {
              // The upload is complete but no object was stored (the central
              // failed in between): not delivered; send it again.
              logger_.warn("upload.no_receipt", "the central has no receipt for a complete upload; sending it again",
                           {{"seq", t->object.seq}});
              restart(*t, status);
              break;
            }
            if (receipts_offered && status != 200) {
              why = "fetching the receipt: HTTP " + std::to_string(status);
              failure = Outcome::retry;
              break;
            }
            if (status == 200) {
              receipt = t->body;
              try {
                const base::JsonValue json = base::JsonValue::parse(receipt);
                const bool matches = json.string_at("object_id") == t->object.object_id &&
                                     json.uint_at("seq") == t->object.seq && json.string_at("facility") == facility_ &&
                                     json.string_at("sha256") == t->object.sha256;
                bool valid = matches;
                if (matches && receipt_key) {
                  auto signature = base::base64_decode_padded(json.string_at("signature"));
                  crypto::Ed25519Signature sig{};
                  valid = signature && signature->size() == sig.size();
                  if (valid) {
                    std::copy(signature->begin(), signature->end(), sig.begin());
                    const std::string statement =
                        crypto::receipt_statement(t->object.object_id, t->object.seq, facility_, t->object.sha256,
                                                  json.string_at("received_at"));
                    valid = crypto::verify_signature(*receipt_key, base::as_bytes(statement), sig);
                  }
                }
                if (!valid) {
                  ++report.receipts_invalid;
                  if (options.counters != nullptr) options.counters->count_error(UploadErrorClass::receipt_invalid);
                  logger_.error("upload.receipt_invalid",
                                "ALARM: the central's receipt for a delivered object does not check out (wrong "
                                "object, or a bad signature); keep the receipt and tell the central's operators",
                                {{"seq", t->object.seq}});
                } else if (receipt_key) {
                  ++report.receipts_verified;
                  if (options.counters != nullptr) ++options.counters->receipts_verified;
                } else {
                  ++report.receipts_unverified;
                }
              } catch (const base::JsonError&) {
                ++report.receipts_invalid;
                if (options.counters != nullptr) options.counters->count_error(UploadErrorClass::receipt_invalid);
                logger_.error("upload.receipt_invalid", "ALARM: the central's receipt is not valid JSON",
                              {{"seq", t->object.seq}});
              }
            } else {
              ++report.receipts_missing;  // a plain tus server: delivered all the same (offset == length)
            }
            spool_.mark_delivered(t->object.object_id, receipt);
            ++report.delivered;
            report.delivered_bytes += t->object.size;
            if (options.counters != nullptr) {
              ++options.counters->delivered;
              options.counters->delivered_bytes += t->object.size;
              options.counters->last_delivered_ms = unix_ms();
              options.counters->count_success();
            }
            done = true;
            break;
          }
        }
        if (!done && !failure && !why.empty()) {
          // An HTTP status we did not expect: classify it.
          if (status == 423 || status == 429 || status >= 500 || status == 408) {
            failure = Outcome::retry;
          } else if (status >= 400) {
            failure = Outcome::reject;
          } else {
            failure = Outcome::retry;
          }
        }
      }
      if (done) {
        if (t->fd >= 0) ::close(t->fd);
        t->fd = -1;
        continue;
      }
      if (failure) {
        if (options.counters != nullptr) options.counters->count_error(classify_failure(code, t->status, *failure));
        switch (*failure) {
          case Outcome::hard:
            logger_.error("upload.tls_refused", "TLS with the central failed", {{"error", why}});
            give_up(*t, "TLS with the central failed: " + why +
                            " (check central.ca, central.cert/key, central.pin and the central's certificate)");
            break;
          case Outcome::reject:
            spool_.mark_rejected(t->object.object_id, why);
            ++report.rejected;
            continue;
          case Outcome::retry:
          case Outcome::resync:
          case Outcome::restart:
            logger_.warn("upload.retry", "a request to the central failed; retrying",
                         {{"seq", t->object.seq}, {"error", why}, {"attempt", static_cast<std::int64_t>(t->failures + 1)}});
            backoff(*t, retry_after);
            if (!t->url.empty()) t->step = Step::head;  // after any error: HEAD, resume from the server's offset
            if (options.give_up_after > 0 && t->failures >= options.give_up_after) {
              give_up(*t, "the central could not be reached or kept failing: " + why);
            }
            break;
        }
      }
      waiting.push_back(std::move(t));
    }
    if (report.hard_error) break;
    // Wait for sockets, or until the next backoff ends.
    // (A waiting object that is due but has no free slot waits for a
    // running one to finish: a socket event.)
    int timeout_ms = 1000;
    const auto soonest = Clock::now();
    if (running.size() < options.parallel) {
      for (const auto& t : waiting) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(t->wake - soonest).count();
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait, 0, timeout_ms));
      }
    }
    if (!running.empty() || timeout_ms > 0) co_await driver.wait(std::chrono::milliseconds(timeout_ms));
    refill();
  }
  for (auto& [id, t] : running) {
    curl_multi_remove_handle(multi.get(), t->easy.get());
  }
  co_return finish();
}

}  // namespace medgw::daemon
