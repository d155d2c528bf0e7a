// The drain: Uploader::drain_async owns the curl multi handle and the
// CurlDriver that runs it on the io_context, asks the server what it offers
// (OPTIONS, once), then lets a TransferPool run each object's tus state
// machine (tus_transfer.hpp) until the spool is empty, a hard error, the end
// of the window, or a stop.
#include <daemon/delivery/uploader.hpp>

#include <daemon/delivery/curl_driver.hpp>
#include <daemon/delivery/erasure_check.hpp>
#include <daemon/delivery/http_exchange.hpp>
#include <daemon/delivery/http_profile.hpp>
#include <daemon/delivery/receipt.hpp>
#include <daemon/delivery/transfer_pool.hpp>
#include <daemon/delivery/tus_transfer.hpp>

#include <base/curl_handles.hpp>

#include <ctime>
#include <exception>
#include <optional>
#include <random>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <curl/curl.h>

namespace medgw::daemon {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool in_window(const CentralConfig& central) { return central.window.contains_now(); }

// What a drain needs before it contacts the central.
struct Credentials {
  HttpProfile profile;
  std::optional<crypto::Ed25519PublicKey> receipt_key;
};

base::Result<Credentials> load_credentials(const CentralConfig& central, const log::Logger& logger) {
  try {
    check_client_credentials(central);
  } catch (const std::exception& error) {
    return base::fail("credentials_unusable", error.what());
  }
  auto receipt_key = load_receipt_key(central.receipt_key);
  if (!receipt_key) return base::fail(receipt_key.error());
  auto profile = make_http_profile(central, ClientIdentity::certificate, logger.named("cert"));
  if (!profile) return base::fail(profile.error());
  // Read now, so that a file that cannot be used is named before any request.
  if (auto material = profile->tls->current(); !material) return base::fail("credentials_unusable", material.error().message);
  return Credentials{std::move(*profile), *receipt_key};
}

// What every transfer of the drain shares (the server's offer comes later).
tus::Session make_session(const CentralConfig& central, const std::string& facility, const std::string& gateway,
                          const Credentials& credentials, const DrainOptions& options, std::mt19937_64& random) {
  tus::Session session;
  session.endpoint = central.url.ends_with('/') ? central.url : central.url + "/";
  session.facility = facility;
  session.gateway = gateway;
  session.chunk = central.chunk;
  session.receipt_key = credentials.receipt_key;
  session.retry = {options.give_up_after, options.backoff_base, options.backoff_cap};
  session.jitter = [&random](std::chrono::milliseconds limit) {
    return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, limit.count())(random));
  };
  return session;
}

// Lets Control::request_stop() wake the drain while it runs; the control
// outlives the drain, its wake must not.
class WakeHook {
 public:
  WakeHook(Control* control, CurlDriver& driver) : control_(control) {
    if (control_ != nullptr) control_->wake = [&driver] { driver.wake(); };
  }
  WakeHook(const WakeHook&) = delete;
  WakeHook& operator=(const WakeHook&) = delete;
  ~WakeHook() {
    if (control_ != nullptr) control_->wake = nullptr;
  }

 private:
  Control* control_;
};

bool stop_requested(const Control* control) { return control != nullptr && control->stop; }

// Delivered withdraw objects whose erasure receipt can be asked for (only
// with central.receipt_key can one be confirmed).
bool erasures_due(const CentralConfig& central, spool::Spool& spool) {
  return !central.receipt_key.empty() && !collectors::erasures_to_confirm(spool.state().db()).empty();
}

// curl's result for `easy` once it has finished (other handles' messages
// are dropped: nothing else runs while the server is asked).
std::optional<CURLcode> finished(CURLM* multi, CURL* easy) {
  std::optional<CURLcode> result;
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
    if (message->msg == CURLMSG_DONE && message->easy_handle == easy) result = message->data.result;
  }
  return result;
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

Uploader::Uploader(const CentralConfig& central, std::string facility, std::string gateway, spool::Spool& spool,
                   log::Logger logger)
    : central_(central), facility_(std::move(facility)), gateway_(std::move(gateway)), spool_(spool), logger_(std::move(logger)) {}

UploadReport Uploader::drain(const DrainOptions& options) {
  asio::io_context io;
  UploadReport result;
  std::exception_ptr failure;
  asio::co_spawn(io, drain_async(options), [&](std::exception_ptr error, UploadReport report) {
    failure = error;
    result = std::move(report);
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return result;
}

asio::awaitable<UploadReport> Uploader::drain_async(DrainOptions options) {
  UploadReport report;
  const auto started = Clock::now();
  auto finish = [&]() -> UploadReport {
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return report;
  };
  if (!in_window(central_)) {
    report.outside_window = true;
    co_return finish();
  }
  if (spool_.due(1).empty() && !erasures_due(central_, spool_)) co_return finish();  // do not contact the central
  base::Result<Credentials> credentials = load_credentials(central_, logger_);
  if (!credentials) {
    report.hard_error = true;
    report.error = credentials.error().message;
    co_return finish();
  }
  std::mt19937_64 random(std::random_device{}());
  tus::Session session = make_session(central_, facility_, gateway_, *credentials, options, random);

  base::curl::Multi multi(curl_multi_init());
  curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.parallel));
  CurlDriver driver(co_await asio::this_coro::executor, multi.get());
  const WakeHook wake_hook(options.control, driver);

  // OPTIONS first: which extensions the server offers (receipts, checksums).
  // Retried like any request while the central cannot be reached: without
  // the answer a receipt could not be asked for. (Here, not in a coroutine
  // of its own: GCC 12 then misreports the frame's allocation.)
  base::Result<tus::ServerOffer> offer = base::fail("unreachable", "not asked yet");
  for (int attempt = 1;; ++attempt) {
    HttpExchange probe;
    CURL* probe_easy = probe.prepare(tus::options_request(session.endpoint), credentials->profile, -1, 0);
    curl_multi_add_handle(multi.get(), probe_easy);
    std::optional<CURLcode> probe_result;
    while (!probe_result && !stop_requested(options.control)) {
      driver.process();
      probe_result = finished(multi.get(), probe_easy);
      if (!probe_result) co_await driver.wait(std::chrono::seconds(1));
    }
    curl_multi_remove_handle(multi.get(), probe_easy);
    if (!probe_result) {
      report.stopped = true;
      co_return finish();
    }
    offer = tus::read_server_offer(probe.reply(*probe_result));
    if (offer || offer.error().code != "unreachable") break;
    if (options.counters != nullptr) options.counters->count_error(UploadErrorClass::connect);
    ++report.retries;
    if (options.give_up_after > 0 && attempt >= options.give_up_after) break;
    logger_.warn("upload.retry", "a request to the central failed; retrying",
                 {{"error", offer.error().message}, {"attempt", static_cast<std::int64_t>(attempt)}});
    const auto cap = std::min<std::int64_t>(options.backoff_cap.count(), options.backoff_base.count() << std::min(attempt, 16));
    co_await driver.wait(std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, cap)(random)));
    if (stop_requested(options.control)) {
      report.stopped = true;
      co_return finish();
    }
  }
  if (!offer) {
    report.hard_error = true;
    report.error = offer.error().message;
    if (offer.error().code == "tls_refused") {
      if (options.counters != nullptr) options.counters->count_error(UploadErrorClass::tls);
      logger_.error("upload.tls_refused", "TLS with the central failed; nothing was sent", {{"error", report.error}});
    }
    co_return finish();
  }
  session.offer = *offer;

  TransferPool pool({session, credentials->profile, central_.bandwidth, spool_, multi.get(), options, report, logger_});
  pool.refill();
  while (!report.hard_error) {
    if (stop_requested(options.control)) {
      report.stopped = true;
      break;
    }
    if (!in_window(central_)) {
      report.outside_window = true;
      break;
    }
    pool.start_due();
    if (pool.idle()) {
      pool.refill();
      if (pool.idle()) break;  // the spool is empty (or holds only rejected objects)
      continue;
    }
    driver.process();
    pool.collect_finished();
    if (report.hard_error) break;
    // Wait for sockets or until the next backoff ends; idle: the spool at once.
    const std::chrono::milliseconds wait = pool.next_wait();
    if (pool.has_running() || (!pool.idle() && wait.count() > 0)) co_await driver.wait(wait);
    pool.refill();
  }
  if (report.hard_error || report.stopped || report.outside_window) co_return finish();

  // The erasure receipts of delivered withdraw objects, one at a time.
  ErasureChecks erasures(session, spool_.state().db(), report, logger_);
  while (const std::optional<tus::Request> request = erasures.next()) {
    HttpExchange exchange;
    CURL* easy = exchange.prepare(*request, credentials->profile, -1, 0);
    curl_multi_add_handle(multi.get(), easy);
    std::optional<CURLcode> result;
    while (!result && !stop_requested(options.control)) {
      driver.process();
      result = finished(multi.get(), easy);
      if (!result) co_await driver.wait(std::chrono::seconds(1));
    }
    curl_multi_remove_handle(multi.get(), easy);
    if (!result) {
      erasures.stop();
      break;
    }
    erasures.on_reply(exchange.reply(*result));
  }
  co_return finish();
}

}  // namespace medgw::daemon
