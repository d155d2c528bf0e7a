#include <daemon/service/service_health.hpp>

#include <daemon/service/certificate_expiry.hpp>

#include <base/time_format.hpp>

#include <algorithm>

namespace medgw::daemon {
namespace {

using namespace std::chrono_literals;

constexpr auto certificate_period = 60s;  // re-read central.cert (renewals)
// Renewed by hand, a certificate needs a month's notice; renewed by the
// service (central.renew_at), a failing renewal is reported after a day and
// this is the last alarm.
constexpr int manual_warning_days = 30;
constexpr int renewing_warning_days = 7;

double unix_seconds(std::chrono::system_clock::time_point when) {
  return std::chrono::duration<double>(when.time_since_epoch()).count();
}

}  // namespace

void ServiceHealth::refresh_certificate(const Snapshot& current, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - certificate_read_ < certificate_period) return;
  certificate_read_ = now;
  certificate_ = certificate_not_after(current.config.central.cert);
  certificate_not_before_ = certificate_not_before(current.config.central.cert);
}

void ServiceHealth::certificate_reasons(std::vector<std::string>& reasons, bool renewing) const {
  const auto now = std::chrono::system_clock::now();
  if (const auto* not_after = std::get_if<std::chrono::system_clock::time_point>(&certificate_)) {
    // Renewed by the service, the last alarm comes at 7 days left, or at a
    // sixth of the lifetime for short-lived certificates (renewal is due at
    // central.renew_at, long before).
    std::chrono::system_clock::duration warning = std::chrono::days(renewing ? renewing_warning_days
                                                                              : manual_warning_days);
    if (renewing && certificate_not_before_ && *not_after > *certificate_not_before_) {
      warning = std::min(warning, (*not_after - *certificate_not_before_) / 6);
    }
    const auto left = std::chrono::duration_cast<std::chrono::hours>(*not_after - now).count();
    const std::string date = base::rfc3339_utc(*not_after).substr(0, 10);
    if (*not_after <= now) {
      reasons.push_back("certificate central.cert expired on " + date + ": renew it (uploads are refused)");
    } else if (*not_after - now < warning) {
      reasons.push_back("certificate central.cert expires in " +
                        (left >= 24 ? std::to_string(left / 24) + " days (" : std::to_string(left) + " hours (") +
                        date + "): renew it");
    }
  } else {
    reasons.push_back("certificate central.cert: " + std::get<std::string>(certificate_));
  }
}

bool ServiceHealth::refresh(const Snapshot& current, std::span<Job* const> jobs, std::uint64_t delivered_since_start,
                            bool force_certificate) {
  const Config& config = current.config;
  try {
    if (!reader_) {
      reader_.emplace(spool::StateDb::open(config.state_dir, spool::StateDb::Access::read_only,
                                           logger_.named("statedb"), gateway_schema()));
    }
    spool_stats_ =
        spool::read_spool_stats(reader_->db(), spool_dir(config), spool_limits(config), std::chrono::system_clock::now());
  } catch (const std::exception& error) {
    reader_.reset();
    logger_.warn("status.stats_failed", "cannot read the spool statistics", {{"error", error.what()}});
  }
  refresh_certificate(current, force_certificate);

  std::vector<std::string> reasons;
  if (spool_stats_ && spool_stats_->capacity != spool::Capacity::ok) {
    reasons.push_back(spool_stats_->capacity == spool::Capacity::spool_full
                          ? "spool full (spool.max_bytes reached): collection paused until uploads free room"
                          : "disk low (free space below spool.min_free): collection paused until there is room");
  }
  if (spool_stats_ && spool_stats_->unconfirmed_objects > 0) {
    reasons.push_back(std::to_string(spool_stats_->unconfirmed_objects) +
                      " objects unconfirmed: the central's receipts do not check out (see upload.receipt_invalid in the "
                      "log; tell the central's operators). They stay in the spool and their receipts are asked for "
                      "again every 10 minutes; medgw spool release|resend SEQ once it is resolved");
  }
  for (const Job* job : jobs) job->health(reasons);
  certificate_reasons(reasons, config.central.renew_at_percent > 0);
  if (reasons != reasons_) {
    for (const std::string& reason : reasons) {
      if (std::find(reasons_.begin(), reasons_.end(), reason) == reasons_.end()) {
        logger_.warn("health.degraded", "health check failing", {{"reason", reason}});
      }
    }
    if (reasons.empty() && !reasons_.empty()) logger_.info("health.ok", "all health checks pass again");
    reasons_ = std::move(reasons);
  }
  std::string line = reasons_.empty() ? "healthy" : "DEGRADED: " + reasons_.front();
  if (spool_stats_) {
    line += "; " + std::to_string(spool_stats_->ready_objects + spool_stats_->uploading_objects) +
            " objects waiting, " + std::to_string(delivered_since_start) + " delivered since start";
  }
  if (line == status_line_) return false;
  status_line_ = std::move(line);
  return true;
}

void ServiceHealth::metrics(PrometheusText& m) const {
  if (spool_stats_) {
    m.family("medgw_spool_objects", "gauge", "Objects in the spool by state.");
    m.sample(spool_stats_->ready_objects, {{"state", "ready"}});
    m.sample(spool_stats_->uploading_objects, {{"state", "uploading"}});
    m.sample(spool_stats_->rejected_objects, {{"state", "rejected"}});
    m.sample(spool_stats_->unconfirmed_objects, {{"state", "unconfirmed"}});
    m.family("medgw_spool_bytes", "gauge", "Bytes held in the spool.");
    m.sample(spool_stats_->spooled_bytes);
    m.family("medgw_spool_max_bytes", "gauge", "spool.max_bytes.");
    m.sample(spool_stats_->limits.max_bytes);
    m.family("medgw_spool_free_bytes", "gauge", "Free space on the spool's filesystem.");
    m.sample(spool_stats_->free_bytes);
    m.family("medgw_spool_oldest_ready_age_seconds", "gauge", "Age of the oldest object waiting (0 = none).");
    m.sample(spool_stats_->oldest_ready_age ? std::chrono::duration<double>(*spool_stats_->oldest_ready_age).count() : 0.0);
    m.family("medgw_spool_accepting", "gauge", "0 while the spool refuses new objects (full or disk low).");
    m.sample(std::int64_t{spool_stats_->capacity == spool::Capacity::ok ? 1 : 0});
    m.family("medgw_objects_lost_total", "counter", "Spooled objects found damaged or missing (ever).");
    m.sample(spool_stats_->lost_objects);
  }
  if (const auto* not_after = std::get_if<std::chrono::system_clock::time_point>(&certificate_)) {
    m.family("medgw_certificate_expiry_timestamp_seconds", "gauge", "When central.cert expires (Unix time).");
    m.sample(unix_seconds(*not_after));
    m.family("medgw_certificate_expiry_seconds", "gauge", "Time left until central.cert expires (negative: expired).");
    m.sample(std::chrono::duration<double>(*not_after - std::chrono::system_clock::now()).count());
  }
}

}  // namespace medgw::daemon
