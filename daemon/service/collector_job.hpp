#pragma once
// The collection job: one worker thread running a pass at a time, each source
// pass when due - on its scan_interval, settle + 1 s after a change hint,
// 15 s after the spool refused it (at once when uploads freed room), 60 s
// after a failure. It keeps per-pass counts for health, /metrics and /status
// (counts only, never a path or a patient). The pass itself is the one
// `medgw collect --once` runs (daemon/runtime/collection_run.hpp), with its
// own connection to state.db (the Runtime's first one).
#include <daemon/service/job.hpp>

#include <collectors/anomaly.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace medgw::daemon {

class Collector;

class CollectorJob final : public Job {
 public:
  // `on_spooled`: objects were spooled (or withdrawals), from the worker thread.
  CollectorJob(JobContext context, std::function<void()> on_spooled);
  ~CollectorJob() override;

  [[nodiscard]] std::string_view name() const override { return "collection"; }
  void start(Done done) override;
  void stop() override;
  void reload(const std::shared_ptr<const Snapshot>& snapshot) override;
  void health(std::vector<std::string>& reasons) const override;
  void metrics(PrometheusText& out) const override;
  void status(base::JsonWriter& doc) const override;

  // A change under `label`'s folder (inotify): pass once it has settled.
  void hint(const std::string& label);
  // Uploads freed room: passes the spool refused need not wait.
  void room_freed();

 private:
  using SteadyClock = std::chrono::steady_clock;
  // Per pass label: schedule and what its passes did (counts only).
  struct PassState {
    SteadyClock::time_point due{};
    bool running = false;
    std::string problem;       // unreachable, or the pass failed: why (no PHI)
    std::string pause_reason;  // the spool refused the last pass
    bool deletes_withheld = false;  // the last pass did not believe a mass deletion
    std::int64_t last_success_ms = 0;
    double last_duration_seconds = 0;
    std::uint64_t files_last_pass = 0;
    std::uint64_t passes_finished = 0, passes_paused = 0, passes_failed = 0;
    std::uint64_t added = 0, modified = 0, renamed = 0, deleted = 0, unreadable = 0;
    std::uint64_t excluded_optout = 0, excluded_since = 0, held = 0, held_notice = 0, rows_held_notice = 0;
    std::uint64_t objects = 0, object_bytes = 0;
    std::array<std::uint64_t, collectors::anomaly_count> anomalies{};
  };

  void loop();
  std::chrono::milliseconds collect_one(const SourcePlan& plan, const std::string& label, Collector& collection);
  void record(const std::string& label, const collectors::PassSummary& summary, SteadyClock::time_point started);
  template <class Change>
  void update(const std::string& label, Change&& change);

  JobContext context_;
  std::function<void()> on_spooled_;
  log::Logger logger_;
  std::atomic<bool> stopping_{false};
  std::thread worker_;

  // Shared with the worker thread: only under `mutex_`.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, PassState> passes_;
  std::string policy_problem_;  // the opt-out list cannot be used: nothing is collected
};

}  // namespace medgw::daemon
