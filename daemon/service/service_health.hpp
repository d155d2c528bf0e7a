#pragma once
// The service's own health checks, beside the jobs': the spool's capacity
// (read on a read-only connection every 2 s) and central.cert's expiry
// (re-read every minute, so a renewed file is seen; a warning 7 days before
// its end when the service renews it, 30 days when renewed by hand). It composes the
// reasons of /healthz in a fixed order - capacity, then each job, then the
// certificate - logs each new one (health.degraded) and the return to
// health, and keeps the one-line STATUS= for systemd.
#include <daemon/service/job.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace medgw::daemon {

class ServiceHealth {
 public:
  explicit ServiceHealth(log::Logger logger) : logger_(std::move(logger)) {}

  // Reads the spool statistics and (when due) the certificate, asks `jobs`,
  // and returns whether the status line changed.
  bool refresh(const Snapshot& current, std::span<Job* const> jobs, std::uint64_t delivered_since_start, bool force_certificate);

  [[nodiscard]] const std::vector<std::string>& reasons() const noexcept { return reasons_; }
  [[nodiscard]] bool healthy() const noexcept { return reasons_.empty(); }
  [[nodiscard]] const std::string& status_line() const noexcept { return status_line_; }
  void metrics(PrometheusText& out) const;

 private:
  void refresh_certificate(const Snapshot& current, bool force);
  void certificate_reasons(std::vector<std::string>& reasons, bool renewing) const;

  log::Logger logger_;
  std::optional<spool::StateDb> reader_;  // read-only connection for statistics
  std::optional<spool::SpoolStats> spool_stats_;
  std::variant<std::chrono::system_clock::time_point, std::string> certificate_ = std::string("not read yet");
  std::chrono::steady_clock::time_point certificate_read_{};
  std::optional<std::chrono::system_clock::time_point> certificate_not_before_;
  std::vector<std::string> reasons_;
  std::string status_line_;
};

}  // namespace medgw::daemon
