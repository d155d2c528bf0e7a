#pragma once
// The backup schedule inside `medgw run` (backup.schedule, "HH:MM" local
// time, daily): a worker thread runs one backup (daemon/backup) when the
// local time reaches the scheduled minute, or later within the hour when the
// service was down or busy then; at most once per day. A backup holds its own
// lock and state (state_dir/backup/), so collection and uploads go on while
// it runs. Health says when the last run failed or no backup succeeded for
// two days; metrics give the last success, bytes added and failures.
#include <daemon/service/job.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace medgw::daemon {

class BackupJob final : public Job {
 public:
  explicit BackupJob(JobContext context);
  ~BackupJob() override;

  [[nodiscard]] std::string_view name() const override { return "backup"; }
  void start(Done done) override;
  void stop() override;
  void reload(const std::shared_ptr<const Snapshot>& snapshot) override;
  void health(std::vector<std::string>& reasons) const override;
  void metrics(PrometheusText& out) const override;
  void status(base::JsonWriter& doc) const override;

 private:
  struct Outcome {
    bool running = false;
    std::int64_t last_success_ms = 0;
    std::string last_snapshot;
    std::uint64_t last_bytes_added = 0;
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::int64_t last_failure_ms = 0;
    std::string last_failure;  // the error's message (never patient data)
  };

  void loop();
  void run_once(const Config& config);

  JobContext context_;
  log::Logger logger_;
  std::thread worker_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;  // guards outcome_, last_day_ and pending_
  std::condition_variable wake_;
  Outcome outcome_;
  int last_day_ = 0;  // local date (YYYYMMDD) of the last scheduled run
  bool pending_ = false;  // due, waiting for central.window (a remote repository)
  std::int64_t started_ms_ = 0;
};

}  // namespace medgw::daemon
