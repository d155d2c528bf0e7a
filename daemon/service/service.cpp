#include <daemon/service/service.hpp>

#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/status_report.hpp>
#include <daemon/service/change_hints.hpp>
#include <daemon/service/collector_job.hpp>
#include <daemon/service/backup_job.hpp>
#include <daemon/service/listener_job.hpp>
#include <daemon/service/certificate_job.hpp>
#include <daemon/service/delivery_job.hpp>
#include <daemon/service/service_health.hpp>
#include <daemon/service/status_server.hpp>
#include <daemon/service/systemd_notify.hpp>

#include <base/time_format.hpp>

#include <medgw/build_info.hpp>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>

#include <unistd.h>

namespace medgw::daemon {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto health_period = 2s;  // spool statistics and health
constexpr auto stop_deadline = 20s;  // SIGTERM to exit; systemd's TimeoutStopSec is longer

}  // namespace

struct Service::Impl {
  std::filesystem::path config_path;
  std::unique_ptr<Runtime> runtime;
  log::Logger logger;
  SystemdNotifier notifier;
  const std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  asio::io_context io;
  asio::signal_set signals{io};
  asio::steady_timer watchdog_timer{io};
  asio::steady_timer health_timer{io};
  asio::steady_timer stop_timer{io};
  std::optional<StatusServer> status_server;
  std::optional<ChangeHints> hints;
  ServiceHealth health;

  // The configuration in force: read by the jobs from any thread.
  mutable std::mutex snapshot_mutex;
  std::shared_ptr<const Snapshot> current;
  std::uint64_t reloads_ok = 0, reloads_failed = 0;  // the loop thread's

  // The jobs, started in this order and stopped in reverse.
  std::optional<CertificateJob> certificate;  // first: it finishes an interrupted swap of central.key/cert
  std::optional<CollectorJob> collection;
  std::optional<DeliveryJob> delivery;
  std::optional<BackupJob> backup;
  std::optional<ListenerJob> listeners;  // after the collection: what they receive, it spools
  std::vector<Job*> jobs;
  std::size_t jobs_running = 0;
  bool stopping = false;
  int exit_status = 0;

  Impl(std::filesystem::path path, std::unique_ptr<Runtime> rt)
      : config_path(std::move(path)),
        runtime(std::move(rt)),
        logger(runtime->logger.named("service")),
        health(runtime->logger.named("service")),
        current(std::make_shared<const Snapshot>(runtime->config)) {
    const JobContext context{io, *runtime, [this] { return snapshot(); }};
    certificate.emplace(context, [this] { refresh_health(true); });
    collection.emplace(context, [this] { delivery->wake(); });
    delivery.emplace(context, [this] { collection->room_freed(); });
    backup.emplace(context);
    listeners.emplace(context);
    jobs = {&*certificate, &*collection, &*delivery, &*backup, &*listeners};
  }

  [[nodiscard]] std::shared_ptr<const Snapshot> snapshot() const {
    const std::lock_guard lock(snapshot_mutex);
    return current;
  }

  void refresh_health(bool force_certificate = false) {
    if (health.refresh(*snapshot(), jobs, delivery->counters().delivered.load(), force_certificate) && !stopping) {
      notifier.status(health.status_line());
    }
  }

  void schedule_health() {
    health_timer.expires_after(health_period);
    health_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      refresh_health();
      schedule_health();
    });
  }

  void schedule_watchdog(std::chrono::microseconds interval) {
    watchdog_timer.expires_after(interval / 2);
    watchdog_timer.async_wait([this, interval](const boost::system::error_code& ec) {
      if (ec) return;
      notifier.watchdog();
      schedule_watchdog(interval);
    });
  }

  void wait_for_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
      } else {
        logger.info("service.signal", "stop requested", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
        shutdown("stopping on request");
      }
      wait_for_signal();
    });
  }

  // Parse, validate, swap the snapshot; a bad file keeps the old one.
  void reload() {
    if (stopping) return;
    notifier.reloading();
    logger.info("config.reloading", "reloading the configuration", {{"file", config_path.string()}});
    LoadResult loaded = load_config(config_path, config_schema());
    if (!loaded.ok()) {
      for (const Diagnostic& diagnostic : loaded.diagnostics) {
        if (diagnostic.severity == Diagnostic::Severity::error) {
          logger.error("config.reload_failed", "the new configuration has an error; the old one stays in force",
                       {{"error", diagnostic.format()}});
        }
      }
      ++reloads_failed;
      notifier.ready("reload failed, old configuration in force; " + health.status_line());
      return;
    }
    for (const Diagnostic& warning : check_environment(loaded)) {
      logger.warn("config.warning", "the new configuration has a warning", {{"warning", warning.format()}});
    }
    Config next = std::move(*loaded.config);
    const std::shared_ptr<const Snapshot> old = snapshot();
    // What is bound at start-up keeps its value until the next restart.
    auto keep = [&](bool differs, std::string_view key, auto& field, const auto& value) {
      if (!differs) return;
      logger.warn("config.needs_restart", "a changed setting takes effect only after a restart", {{"key", std::string(key)}});
      field = value;
    };
    keep(next.state_dir != old->config.state_dir, "state_dir", next.state_dir, old->config.state_dir);
    keep(next.facility.code != old->config.facility.code, "facility.code", next.facility.code, old->config.facility.code);
    keep(next.status.listen != old->config.status.listen, "status.listen", next.status.listen, old->config.status.listen);
    keep(next.log.file != old->config.log.file, "log.file", next.log.file, old->config.log.file);
    // Applied now: log.level; spool.* and central.recipients by the collection before its next pass.
    if (next.log.level != old->config.log.level) {
      runtime->set_log_level(log::parse_level(next.log.level).value_or(log::Level::info));
    }
    auto fresh = std::make_shared<const Snapshot>(std::move(next));
    {
      const std::lock_guard lock(snapshot_mutex);
      current = fresh;
    }
    ++reloads_ok;
    for (Job* job : jobs) job->reload(fresh);
    if (hints) hints->watch(watch_list(*fresh));
    refresh_health(true);
    logger.info("config.reloaded", "configuration reloaded", {{"file", config_path.string()}});
    notifier.ready(health.status_line());
  }

  static ChangeHints::Roots watch_list(const Snapshot& snapshot) {
    ChangeHints::Roots roots;
    for (const SourcePass& pass : snapshot.plan.passes()) {
      if (!pass.root.empty()) roots.emplace_back(pass.label, pass.root);
    }
    return roots;
  }

  void shutdown(std::string_view why) {
    if (stopping) return;
    stopping = true;
    notifier.stopping(why);
    logger.info("service.stopping", "stopping: interrupting the pass and the uploads at a resumable point",
                {{"why", std::string(why)}});
    if (status_server) status_server->stop();
    if (hints) hints->stop();
    health_timer.cancel();
    signals.cancel();
    for (auto job = jobs.rbegin(); job != jobs.rend(); ++job) (*job)->stop();
    stop_timer.expires_after(stop_deadline);
    stop_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      logger.error("service.stop_timeout", "work did not stop within the deadline; exiting anyway (nothing is lost: "
                   "the next start resumes)", {{"deadline_s", static_cast<std::int64_t>(stop_deadline.count())}});
      std::_Exit(1);
    });
    check_stopped();
  }

  // A job ended (on the loop).
  void job_done(std::string_view name, const std::string& failure) {
    --jobs_running;
    if (!failure.empty()) {
      logger.error("service.worker_failed", "a job stopped on an error; the service stops so that systemd restarts it",
                   {{"worker", std::string(name)}, {"error", failure}});
      exit_status = 1;
      shutdown("a job failed");
    } else if (!stopping) {
      exit_status = 1;
      shutdown("a job ended");
    }
    check_stopped();
  }

  void check_stopped() {
    if (!stopping || jobs_running > 0) return;
    stop_timer.cancel();
    watchdog_timer.cancel();
    io.stop();
  }

  HttpAnswer answer(std::string_view path) {
    if (path == "/healthz") {
      refresh_health();
      if (health.healthy()) return {200, "text/plain; charset=utf-8", "ok\n"};
      std::string body;
      for (const std::string& reason : health.reasons()) body += reason + "\n";
      return {503, "text/plain; charset=utf-8", body};
    }
    if (path == "/metrics") {
      refresh_health();
      return {200, std::string(PrometheusText::content_type), metrics()};
    }
    if (path == "/status") {
      refresh_health();
      return {200, "application/json", status_document() + "\n"};
    }
    return {404, "text/plain; charset=utf-8", "not found; try /healthz, /metrics or /status\n"};
  }

  std::string status_document() {
    return status_json(snapshot()->config, std::chrono::system_clock::now(), [&](base::JsonWriter& doc) {
      doc.key("daemon").begin_object();
      doc.field("pid", static_cast<std::int64_t>(::getpid()));
      doc.field("version", std::string(build_info::version));
      doc.field("started", base::rfc3339_utc(started));
      doc.field("healthy", health.healthy());
      doc.key("problems").begin_array();
      for (const std::string& reason : health.reasons()) doc.value(reason);
      doc.end_array();
      for (const Job* job : jobs) job->status(doc);
      doc.end_object();
    });
  }

  std::string metrics() {
    PrometheusText m;
    m.family("medgw_build_info", "gauge", "Version of the running medgw.");
    m.sample(std::int64_t{1}, {{"version", build_info::version}});
    m.family("medgw_start_time_seconds", "gauge", "When this process started (Unix time).");
    m.sample(std::chrono::duration<double>(started.time_since_epoch()).count());
    m.family("medgw_healthy", "gauge", "1 when every health check passes (/healthz answers 200).");
    m.sample(std::int64_t{health.healthy() ? 1 : 0});
    m.family("medgw_health_problems", "gauge", "Number of failing health checks.");
    m.sample(static_cast<std::uint64_t>(health.reasons().size()));
    m.family("medgw_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
    m.sample(reloads_ok, {{"result", "ok"}});
    m.sample(reloads_failed, {{"result", "failed"}});
    for (const Job* job : jobs) job->metrics(m);
    health.metrics(m);
    return m.text();
  }

  void start_jobs() {
    for (Job* job : jobs) {
      ++jobs_running;
      job->start([this, name = std::string(job->name())](std::string failure) { job_done(name, failure); });
    }
  }

  int run() {
    const std::shared_ptr<const Snapshot> first = snapshot();
    signals.add(SIGHUP);
    signals.add(SIGTERM);
    signals.add(SIGINT);
    wait_for_signal();
    status_server.emplace(io, runtime->logger.named("status"), [this](std::string_view path) { return answer(path); });
    std::uint16_t status_port = 0;
    try {
      status_port = status_server->start(first->config.status.listen);
    } catch (const std::exception& error) {
      logger.error("service.start_failed", "cannot start the status server", {{"error", error.what()}});
      return 1;
    }
    hints.emplace(io, runtime->logger.named("hints"), [this](const std::string& label) { collection->hint(label); });
    hints->watch(watch_list(*first));
    refresh_health(true);
    start_jobs();
    schedule_health();
    if (const auto interval = notifier.watchdog_interval()) {
      notifier.watchdog();
      schedule_watchdog(*interval);
    }
    const std::string& listen = first->config.status.listen;
    logger.info("service.ready", "medgw is running",
                {{"status", "http://" + listen.substr(0, listen.rfind(':')) + ":" + std::to_string(status_port) + "/status"},
                 {"sources", static_cast<std::int64_t>(first->plan.passes().size())},
                 {"watchdog", notifier.watchdog_interval() ? "on" : "off"}});
    notifier.ready(health.status_line());
    while (true) {
      try {
        io.run();
        break;
      } catch (const std::exception& error) {
        logger.error("service.loop_error", "an event handler failed; continuing", {{"error", error.what()}});
      }
    }
    logger.info("service.stopped", "medgw stopped", {});
    return exit_status;
  }
};

Service::Service(std::filesystem::path config_path, std::unique_ptr<Runtime> runtime)
    : impl_(std::make_unique<Impl>(std::move(config_path), std::move(runtime))) {}

Service::~Service() = default;

int Service::run() { return impl_->run(); }

}  // namespace medgw::daemon
