#include <daemon/service/delivery_job.hpp>

#include <base/time_format.hpp>

#include <daemon/service/spawn.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace medgw::daemon {
namespace {

using namespace std::chrono_literals;

constexpr auto idle_poll = 30s;
constexpr auto outside_window_poll = 60s;
constexpr auto failing_after = 30min;  // /healthz: uploads failing this long

std::chrono::milliseconds backoff(int failures) {
  const auto step = std::chrono::milliseconds(30s) * (1LL << std::min(failures - 1, 5));
  return std::min<std::chrono::milliseconds>(step, 10min);
}

std::string human_minutes(std::chrono::milliseconds age) {
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(age).count();
  if (minutes < 120) return std::to_string(minutes) + "m";
  return std::to_string(minutes / 60) + "h";
}

}  // namespace

DeliveryJob::DeliveryJob(JobContext context, std::function<void()> on_delivered)
    : context_(std::move(context)),
      on_delivered_(std::move(on_delivered)),
      logger_(context_.runtime.logger.named("service")),
      timer_(context_.io) {}

void DeliveryJob::start(Done done) {
  spawn(context_.io, run(done), logger_, "delivery", [done](std::string error) { done(std::move(error)); });
}

boost::asio::awaitable<void> DeliveryJob::run(Done done) {
  co_await loop();
  done({});
}

void DeliveryJob::stop() {
  stopping_ = true;
  control_.request_stop();
  timer_.cancel();
}

void DeliveryJob::wake() {
  boost::asio::post(context_.io, [this] {
    poke_ = true;
    timer_.cancel();
  });
}

void DeliveryJob::reload(const std::shared_ptr<const Snapshot>&) {
  poke_ = true;
  timer_.cancel();
  control_.request_stop();
}

boost::asio::awaitable<void> DeliveryJob::loop() {
  Runtime& runtime = context_.runtime;
  spool::StateDb connection = runtime.state->another_connection();
  spool::Spool spool(connection, spool_dir(runtime.config), spool_limits(runtime.config), spool_identity(runtime),
                     runtime.logger.named("spool"), spool::Clock{});
  int failures = 0;
  while (!stopping_) {
    const std::shared_ptr<const Snapshot> current = context_.snapshot();
    Uploader uploader(current->config.central, current->config.facility.code, connection.gateway_id(), spool,
                      runtime.logger.named("upload"));
    DrainOptions options;
    options.give_up_after = 0;  // the service retries forever, with backoff
    options.control = &control_;
    options.counters = &counters_;
    UploadReport report;
    try {
      report = co_await uploader.drain_async(options);
    } catch (const std::exception& error) {
      report.hard_error = true;
      report.error = error.what();
    }
    if (stopping_) break;
    if (report.stopped) {  // a reload: drain again with the new settings
      control_.stop = false;
      continue;
    }
    std::chrono::milliseconds wait = idle_poll;
    if (report.hard_error) {
      ++failures;
      wait = backoff(failures);
      logger_.error("upload.stopped", "uploads stopped; retrying later",
                    {{"error", report.error}, {"retry_in_s", static_cast<std::int64_t>(wait.count() / 1000)}});
    } else {
      failures = 0;
      if (report.outside_window) wait = outside_window_poll;
    }
    problem_ = report.hard_error ? report.error : std::string();
    outside_window_ = report.outside_window;
    if (report.delivered > 0 && on_delivered_) on_delivered_();
    if (!poke_ && !stopping_) {
      timer_.expires_after(wait);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    poke_ = false;
  }
}

void DeliveryJob::health(std::vector<std::string>& reasons) const {
  if (!problem_.empty()) reasons.push_back("uploads stopped: " + problem_);
  if (const std::int64_t since = counters_.failing_since_ms.load(); since != 0) {
    const auto failing = std::chrono::milliseconds(base::unix_ms_now() - since);
    if (failing > failing_after) {
      reasons.push_back("uploads failing for " + human_minutes(failing) + " (see the log: upload.retry)");
    }
  }
}

void DeliveryJob::status(base::JsonWriter& doc) const {
  doc.key("uploads").begin_object();
  doc.field("delivered_since_start", counters_.delivered.load());
  doc.field("outside_window", outside_window_);
  if (!problem_.empty()) doc.field("problem", problem_);
  doc.end_object();
}

void DeliveryJob::metrics(PrometheusText& m) const {
  m.family("medgw_objects_delivered_total", "counter", "Objects the central confirmed.");
  m.sample(counters_.delivered.load());
  m.family("medgw_delivered_bytes_total", "counter", "Bytes of the objects the central confirmed.");
  m.sample(counters_.delivered_bytes.load());
  m.family("medgw_upload_sent_bytes_total", "counter", "Bytes sent to the central, including what was sent again.");
  m.sample(counters_.bytes_sent.load());
  m.family("medgw_receipts_verified_total", "counter", "Signed receipts of the central that were verified.");
  m.sample(counters_.receipts_verified.load());
  m.family("medgw_upload_errors_total", "counter", "Failed requests to the central, by class.");
  for (std::size_t i = 0; i < counters_.errors.size(); ++i) {
    m.sample(counters_.errors[i].load(), {{"class", upload_error_class_name(static_cast<UploadErrorClass>(i))}});
  }
  m.family("medgw_last_upload_success_timestamp_seconds", "gauge",
           "When the central last confirmed an object (Unix time; 0 = not since start).");
  m.sample(static_cast<double>(counters_.last_delivered_ms.load()) / 1000.0);
}

}  // namespace medgw::daemon
