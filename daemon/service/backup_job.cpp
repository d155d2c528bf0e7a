#include <daemon/service/backup_job.hpp>

#include <daemon/backup/backup_run.hpp>

#include <base/time_format.hpp>

#include <boost/asio/post.hpp>

#include <chrono>
#include <ctime>

namespace medgw::daemon {
namespace {

constexpr auto poll_interval = std::chrono::seconds(5);
constexpr int grace_minutes = 60;  // a run missed at the scheduled minute still starts within this
constexpr std::int64_t stale_after_ms = 48LL * 3600 * 1000;

// Whether `schedule` ("HH:MM") is due at local time `now`, and the local date.
bool due(const std::string& schedule, std::time_t now, int& day) {
  std::tm local{};
  ::localtime_r(&now, &local);
  day = (local.tm_year + 1900) * 10000 + (local.tm_mon + 1) * 100 + local.tm_mday;
  if (schedule.size() != 5) return false;
  const int scheduled = std::stoi(schedule.substr(0, 2)) * 60 + std::stoi(schedule.substr(3, 2));
  const int minute = local.tm_hour * 60 + local.tm_min;
  return minute >= scheduled && minute < scheduled + grace_minutes;
}

std::string time_text(std::int64_t ms) {
  return base::rfc3339_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

}  // namespace

BackupJob::BackupJob(JobContext context)
    : context_(std::move(context)), logger_(context_.runtime.logger.named("backup")), started_ms_(base::unix_ms_now()) {}

BackupJob::~BackupJob() {
  if (worker_.joinable()) {
    stop();
    worker_.join();
  }
}

void BackupJob::start(Done done) {
  start_worker(worker_, context_, logger_, "backup", [this] { loop(); }, std::move(done));
}

void BackupJob::stop() {
  stopping_ = true;
  const std::lock_guard lock(mutex_);
  wake_.notify_all();
}

void BackupJob::reload(const std::shared_ptr<const Snapshot>&) {
  const std::lock_guard lock(mutex_);
  wake_.notify_all();  // the next check uses the new backup.* keys
}

void BackupJob::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
    const Config& config = snapshot->config;
    int day = 0;
    if (!config.backup.repository.empty() &&
        due(config.backup.schedule, std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()), day) &&
        day != last_day_) {
      last_day_ = day;
      pending_ = true;
    }
    // To the central's endpoint a run starts only inside central.window (at
    // its next opening when the schedule falls outside it).
    const bool remote = config.backup.repository.starts_with("https://");
    if (pending_ && (!remote || config.central.window.contains_now())) {
      pending_ = false;
      outcome_.running = true;
      lock.unlock();
      run_once(config);
      lock.lock();
      outcome_.running = false;
      continue;
    }
    wake_.wait_for(lock, poll_interval);
  }
}

void BackupJob::run_once(const Config& config) {
  const auto report = [&]() -> base::Result<backup::BackupReport> {
    auto settings = backup::backup_settings(config, *context_.runtime.signer);
    if (!settings) return base::fail(settings.error());
    return backup::run_backup(*settings, logger_, {}, &stopping_);
  }();
  const std::lock_guard lock(mutex_);
  if (report) {
    ++outcome_.successes;
    outcome_.last_success_ms = base::unix_ms_now();
    outcome_.last_snapshot = report->snapshot;
    outcome_.last_bytes_added = report->progress.bytes_added;
  } else if (report.error().code != "interrupted") {
    ++outcome_.failures;
    outcome_.last_failure_ms = base::unix_ms_now();
    outcome_.last_failure = report.error().message;
  }
}

void BackupJob::health(std::vector<std::string>& reasons) const {
  const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
  if (snapshot->config.backup.repository.empty() || snapshot->config.backup.schedule.empty()) return;
  const std::lock_guard lock(mutex_);
  if (outcome_.last_failure_ms > outcome_.last_success_ms) {
    reasons.push_back("backup failed at " + time_text(outcome_.last_failure_ms) + ": " + outcome_.last_failure +
                      " (run `medgw backup run` to retry; the log has backup.failed)");
  } else if (base::unix_ms_now() - std::max(outcome_.last_success_ms, started_ms_) > stale_after_ms) {
    reasons.push_back("no backup succeeded for more than 48 hours (backup.schedule " +
                      snapshot->config.backup.schedule + ")");
  }
}

void BackupJob::metrics(PrometheusText& out) const {
  const std::lock_guard lock(mutex_);
  out.family("medgw_backup_last_success_timestamp_seconds", "gauge",
             "Unix time of the last successful backup run of this service (0: none yet)")
      .sample(static_cast<std::int64_t>(outcome_.last_success_ms / 1000));
  out.family("medgw_backup_last_added_bytes", "gauge", "Bytes the last successful backup added to the repository")
      .sample(outcome_.last_bytes_added);
  out.family("medgw_backup_runs_total", "counter", "Scheduled backup runs by result")
      .sample(outcome_.successes, {{"result", "ok"}})
      .sample(outcome_.failures, {{"result", "failed"}});
  out.family("medgw_backup_running", "gauge", "1 while a scheduled backup runs")
      .sample(static_cast<std::uint64_t>(outcome_.running ? 1 : 0));
}

void BackupJob::status(base::JsonWriter& doc) const {
  const std::shared_ptr<const Snapshot> snapshot = context_.snapshot();
  const std::lock_guard lock(mutex_);
  doc.key("backup").begin_object();
  doc.field("schedule", snapshot->config.backup.schedule);
  doc.field("running", outcome_.running);
  doc.key("last_success");
  if (outcome_.last_success_ms > 0) doc.value(time_text(outcome_.last_success_ms));
  else doc.null();
  doc.field("last_snapshot", outcome_.last_snapshot);
  doc.field("last_added_bytes", outcome_.last_bytes_added);
  doc.field("runs_ok", outcome_.successes);
  doc.field("runs_failed", outcome_.failures);
  if (!outcome_.last_failure.empty()) doc.field("last_failure", outcome_.last_failure);
  doc.end_object();
}

}  // namespace medgw::daemon
