#include <daemon/service/certificate_job.hpp>

#include <daemon/delivery/credential_files.hpp>
#include <daemon/delivery/est_client.hpp>

#include <base/time_format.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>

namespace medgw::daemon {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

constexpr auto look_every = 60s;          // central.cert is looked at this often
constexpr std::int64_t failing_alarm_ms = 24LL * 3600 * 1000;

std::int64_t to_ms(SystemClock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::string time_text(std::int64_t ms) { return base::rfc3339_utc(SystemClock::time_point(std::chrono::milliseconds(ms))); }

}  // namespace

SystemClock::time_point renewal_due(SystemClock::time_point not_before, SystemClock::time_point not_after, int percent) {
  if (percent <= 0 || not_after <= not_before) return SystemClock::time_point::max();
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(not_after - not_before);
  return not_before + lifetime * percent / 100;
}

std::chrono::seconds renewal_backoff(std::uint64_t failures) {
  const std::uint64_t doublings = std::min<std::uint64_t>(failures > 0 ? failures - 1 : 0, 6);
  return std::min<std::chrono::seconds>(60s * (1LL << doublings), 3600s);
}

CertificateJob::CertificateJob(JobContext context, std::function<void()> renewed)
    : context_(std::move(context)), renewed_(std::move(renewed)), logger_(context_.runtime.logger.named("cert")) {}

CertificateJob::~CertificateJob() {
  if (worker_.joinable()) {
    stop();
    worker_.join();
  }
}

void CertificateJob::recover_swap(const Config& config) {
  const CentralConfig& central = config.central;
  auto profile = make_http_profile(central);  // for the key password only
  const SwapRecovery recovery =
      recover_credentials_swap(central.cert, central.key, profile ? profile->key_password : std::string());
  if (recovery == SwapRecovery::nothing) return;
  const bool completed = recovery == SwapRecovery::completed;
  logger_.warn("cert.swap_recovered", completed ? "an interrupted certificate replacement was completed"
                                                : "leftovers of an interrupted certificate replacement were removed",
               {{"cert", central.cert}, {"outcome", completed ? "completed" : "removed"}});
}

void CertificateJob::start(Done done) {
  // Before the delivery job (started after this one) opens the files.
  try {
    recover_swap(context_.snapshot()->config);
  } catch (const std::exception& error) {
    // The files in place are untouched; uploads say whether they can be used.
    logger_.error("cert.swap_recovery_failed", "cannot finish or undo an interrupted certificate replacement",
                  {{"error", error.what()}});
  }
  start_worker(worker_, context_, logger_, "certificate", [this] { loop(); }, std::move(done));
}

void CertificateJob::stop() {
  stopping_ = true;
  const std::lock_guard lock(mutex_);
  wake_.notify_all();
}

void CertificateJob::reload(const std::shared_ptr<const Snapshot>&) {
  const std::lock_guard lock(mutex_);
  outcome_.next_attempt = {};  // a new central.* may fix what failed: try again at once when due
  wake_.notify_all();
}

void CertificateJob::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
    lock.unlock();
    const SystemClock::time_point next = check(snapshot->config);
    lock.lock();
    if (stopping_) break;
    wake_.wait_until(lock, std::min(next, SystemClock::now() + look_every));
  }
}

SystemClock::time_point CertificateJob::check(const Config& config) {
  const auto now = SystemClock::now();
  std::string text;
  if (config.central.renew_at_percent <= 0 || !read_text_file(config.central.cert.string(), text)) return now + look_every;
  const Certificates chain = read_certificates(text);
  if (chain.empty()) return now + look_every;  // health reports an unreadable central.cert
  const Validity validity = certificate_validity(chain.front().get());
  const auto due = renewal_due(validity.not_before, validity.not_after, config.central.renew_at_percent);
  SystemClock::time_point next_attempt;
  {
    const std::lock_guard lock(mutex_);
    outcome_.due = due;
    next_attempt = outcome_.next_attempt;
  }
  if (now < due) return due;
  if (now < next_attempt) return next_attempt;
  renew(config);
  const std::lock_guard lock(mutex_);
  return outcome_.next_attempt > now ? outcome_.next_attempt : now + look_every;
}

void CertificateJob::renew(const Config& config) {
  const CentralConfig& central = config.central;
  logger_.info("cert.renewing", "renewing central.cert with the central (EST simplereenroll)",
               {{"cert", central.cert}, {"renew_at_percent", central.renew_at_percent}});
  auto result = [&]() -> base::Result<IssuedCredentials, EstError> {
    auto profile = make_http_profile(central, ClientIdentity::certificate, logger_);
    if (!profile) return base::fail(EstError{profile.error().code, profile.error().message, 0, {}});
    auto url = est_url(central.url, "simplereenroll");
    if (!url) return base::fail(EstError{url.error().code, url.error().message, 0, {}});
    auto issued = request_certificate(*profile, *url, config.facility.code, nullptr, &stopping_);
    if (!issued) return issued;
    try {
      store_credentials(central.cert, central.key, private_key_pem(issued->key.get()), certificates_pem(issued->chain));
    } catch (const std::exception& error) {
      return base::fail(EstError{"store_failed", std::string("the new certificate cannot be stored: ") + error.what(),
                                 0, {}});
    }
    return issued;
  }();
  const auto now = SystemClock::now();
  if (result) {
    X509* certificate = result->chain.front().get();
    const std::string not_after = base::rfc3339_utc(certificate_validity(certificate).not_after);
    logger_.info("cert.renewed", "central.cert was renewed; new connections to the central use it",
                 {{"cert", central.cert}, {"serial", certificate_serial(certificate)}, {"not_after", not_after}});
    {
      const std::lock_guard lock(mutex_);
      ++outcome_.renewals;
      outcome_.last_renewal_ms = to_ms(now);
      outcome_.failing_since_ms = 0;
      outcome_.failures_in_a_row = 0;
      outcome_.last_failure.clear();
      outcome_.next_attempt = {};
      outcome_.due = {};  // the new certificate's is known at the next look
    }
    if (renewed_) boost::asio::post(context_.io, renewed_);
    return;
  }
  const EstError& error = result.error();
  if (error.code == "interrupted") return;  // stopping: the next start tries again
  const std::lock_guard lock(mutex_);
  ++outcome_.failures;
  ++outcome_.failures_in_a_row;
  if (outcome_.failing_since_ms == 0) outcome_.failing_since_ms = to_ms(now);
  outcome_.last_failure = error.message;
  const auto wait = renewal_backoff(outcome_.failures_in_a_row);
  outcome_.next_attempt = now + wait;
  logger_.warn("cert.renewal_failed", "renewing central.cert failed; it is tried again",
               {{"code", error.code}, {"status", error.status}, {"reason", error.reason}, {"error", error.message},
                {"retry_in_s", static_cast<std::int64_t>(wait.count())}});
}

void CertificateJob::health(std::vector<std::string>& reasons) const {
  const std::lock_guard lock(mutex_);
  if (outcome_.failing_since_ms > 0 && base::unix_ms_now() - outcome_.failing_since_ms > failing_alarm_ms) {
    reasons.push_back("renewing central.cert has failed since " + time_text(outcome_.failing_since_ms) + ": " +
                      outcome_.last_failure + " (the log has cert.renewal_failed; a new certificate can also be had "
                      "with a ticket: medgw enroll --force)");
  }
}

void CertificateJob::metrics(PrometheusText& out) const {
  const std::lock_guard lock(mutex_);
  out.family("medgw_certificate_renewals_total", "counter", "Renewals of central.cert by this service")
      .sample(outcome_.renewals);
  out.family("medgw_certificate_renewal_failures_total", "counter", "Failed attempts to renew central.cert")
      .sample(outcome_.failures);
  out.family("medgw_certificate_last_renewal_timestamp_seconds", "gauge",
             "Unix time of the last renewal of central.cert by this service (0: none yet)")
      .sample(static_cast<std::int64_t>(outcome_.last_renewal_ms / 1000));
}

void CertificateJob::status(base::JsonWriter& doc) const {
  const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
  const std::lock_guard lock(mutex_);
  doc.key("certificate").begin_object();
  doc.field("renew_at_percent", static_cast<std::int64_t>(snapshot->config.central.renew_at_percent));
  doc.key("renewal_due");
  if (outcome_.due != SystemClock::time_point{} && outcome_.due != SystemClock::time_point::max()) {
    doc.value(base::rfc3339_utc(outcome_.due));
  } else {
    doc.null();
  }
  doc.key("last_renewal");
  if (outcome_.last_renewal_ms > 0) doc.value(time_text(outcome_.last_renewal_ms));
  else doc.null();
  doc.field("renewals", outcome_.renewals);
  doc.field("renewal_failures", outcome_.failures);
  if (!outcome_.last_failure.empty()) doc.field("last_failure", outcome_.last_failure);
  doc.end_object();
}

}  // namespace medgw::daemon
