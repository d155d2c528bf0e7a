#include <daemon/service/service.hpp>

#include <daemon/config/config_loader.hpp>
#include <daemon/delivery/uploader.hpp>
#include <daemon/runtime/collection_run.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <daemon/runtime/status_report.hpp>
#include <daemon/service/certificate_expiry.hpp>
#include <daemon/service/change_hints.hpp>
#include <daemon/service/prometheus_text.hpp>
#include <daemon/service/status_server.hpp>
#include <daemon/service/systemd_notify.hpp>

#include <collectors/collection_pass.hpp>

#include <base/time_format.hpp>

#include <medgw/build_info.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include <unistd.h>

namespace medgw::daemon {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

// Thrown from a pass's progress callback when the service stops: the pass
// ends at a point where everything committed so far is consistent
// (invariant 1) and the rest is found again by the next pass.
class PassInterrupted : public std::runtime_error {
 public:
  PassInterrupted() : std::runtime_error("the service is stopping") {}
};

constexpr auto paused_retry = 15s;           // a pass the spool refused
constexpr auto failed_retry = 60s;           // a source that could not be read
constexpr auto health_period = 2s;           // spool statistics and health
constexpr auto certificate_period = 60s;     // re-read central.cert (renewals)
constexpr auto upload_failing_after = 30min;  // /healthz: uploads failing this long
constexpr int certificate_warning_days = 30;
constexpr auto stop_deadline = 20s;  // SIGTERM to exit; systemd's TimeoutStopSec is longer
constexpr auto idle_delivery_poll = 30s;
constexpr auto outside_window_poll = 60s;

std::int64_t unix_ms(SystemClock::time_point when) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

double unix_seconds(std::int64_t ms) { return static_cast<double>(ms) / 1000.0; }

std::chrono::milliseconds delivery_backoff(int failures) {
  const auto step = std::chrono::milliseconds(30s) * (1LL << std::min(failures - 1, 5));
  return std::min<std::chrono::milliseconds>(step, 10min);
}

std::string human_minutes(std::chrono::milliseconds age) {
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(age).count();
  if (minutes < 120) return std::to_string(minutes) + "m";
  return std::to_string(minutes / 60) + "h";
}

// Per source label: schedule and what its passes did (counts only).
struct SourceState {
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
  std::uint64_t excluded_optout = 0, excluded_since = 0, held = 0;
  std::uint64_t objects = 0, object_bytes = 0;
  std::array<std::uint64_t, collectors::anomaly_count> anomalies{};
};

}  // namespace

struct Service::Impl {
  std::filesystem::path config_path;
  std::unique_ptr<Runtime> runtime;
  log::Logger logger;
  SystemdNotifier notifier;
  const SystemClock::time_point started = SystemClock::now();

  asio::io_context io;
  asio::signal_set signals{io};
  asio::steady_timer watchdog_timer{io};
  asio::steady_timer health_timer{io};
  asio::steady_timer stop_timer{io};
  std::optional<StatusServer> status_server;
  std::optional<ChangeHints> hints;

  // Shared with the worker threads: only under `mutex`.
  std::mutex mutex;
  std::condition_variable collect_wake;
  std::shared_ptr<const Config> config;
  std::shared_ptr<const SourcePlan> plan;  // the passes of `config`, swapped with it
  std::map<std::string, SourceState> sources;
  std::string policy_problem;  // the opt-out list cannot be used: nothing is collected
  std::uint64_t reloads_ok = 0, reloads_failed = 0;

  std::atomic<bool> stopping{false};
  std::atomic<int> workers_running{0};
  std::thread collector;

  // The delivery, on the loop.
  asio::steady_timer delivery_timer{io};
  // Ends the drain in progress at a resumable point: on stop, and on reload
  // (the next drain uses the new central.* settings).
  Control drain_control;
  bool delivery_running = false;
  bool delivery_poke = false;
  std::string delivery_problem;  // the last drain stopped on a hard error
  bool outside_window = false;
  UploadCounters upload;

  // The loop thread's own.
  std::optional<spool::StateDb> reader;  // read-only connection for statistics
  std::optional<spool::SpoolStats> spool_stats;
  std::variant<SystemClock::time_point, std::string> certificate = std::string("not read yet");
  SteadyClock::time_point certificate_read{};
  std::vector<std::string> health_reasons;
  std::string status_line;
  std::uint16_t status_port = 0;
  int exit_status = 0;

  Impl(std::filesystem::path path, std::unique_ptr<Runtime> rt)
      : config_path(std::move(path)),
        runtime(std::move(rt)),
        logger(runtime->logger.named("service")),
        config(std::make_shared<const Config>(runtime->config)),
        plan(std::make_shared<const SourcePlan>(*config)) {
    for (const SourcePass& pass : plan->passes()) sources[pass.label].due = SteadyClock::now();
  }

  std::shared_ptr<const Config> snapshot() {
    const std::lock_guard lock(mutex);
    return config;
  }

  // ---- the collector thread ----

  void collector_loop() {
    std::shared_ptr<const Config> used;
    std::optional<Collector> collection;  // the policy in force and whether withdrawals are due
    std::unique_lock lock(mutex);
    while (!stopping) {
      auto next = sources.end();
      for (auto it = sources.begin(); it != sources.end(); ++it) {
        if (next == sources.end() || it->second.due < next->second.due) next = it;
      }
      if (next == sources.end()) {
        collect_wake.wait(lock);
        continue;
      }
      if (const SteadyClock::time_point due = next->second.due; due > SteadyClock::now()) {
        // (A copy: a reload replaces `sources` while this waits.)
        collect_wake.wait_until(lock, due);
        continue;  // woken early (hint, reload, stop) or due now: choose again
      }
      const std::string label = next->first;
      std::shared_ptr<const Config> current = config;
      std::shared_ptr<const SourcePlan> current_plan = plan;
      next->second.running = true;
      lock.unlock();
      if (current != used) {
        collection.emplace(*runtime, current->policy);
        runtime->spool->set_limits(spool_limits(*current));
        runtime->spool->set_recipients(recipients_of(*current));
        used = current;
      }
      const auto retry_in = collect_one(*current_plan, label, *collection);
      lock.lock();
      if (auto found = sources.find(label); found != sources.end()) {
        found->second.running = false;
        found->second.due = SteadyClock::now() + retry_in;
      }
    }
  }

  // One pass over `label`; returns when it is due again.
  std::chrono::milliseconds collect_one(const SourcePlan& current_plan, const std::string& label, Collector& collection) {
    const SourcePass* source = current_plan.find(label);
    if (source == nullptr) return std::chrono::hours(24);  // removed by a reload meanwhile
    const std::chrono::milliseconds interval = source->scan_interval;

    const base::Status usable = collection.refresh_policy(SystemClock::now());
    {
      const std::lock_guard lock(mutex);
      policy_problem = usable ? std::string() : usable.error().message;
    }
    if (!usable) logger.error("policy.unusable", "the opt-out list cannot be used", {{"problem", usable.error().message}});
    if (!collection.policy()) return failed_retry;  // never collect without a usable list

    auto set_state = [&](auto&& change) {
      const std::lock_guard lock(mutex);
      if (auto found = sources.find(label); found != sources.end()) change(found->second);
    };
    if (collection.withdrawals_due()) {
      const collectors::RegisterUpdate update = collection.withdraw_newly_listed(current_plan);
      if (update.paused) {
        set_state([&](SourceState& s) { s.pause_reason = "withdrawals wait for room in the spool: " + update.pause_reason; });
        return paused_retry;
      }
      if (update.withdrawn > 0) wake_delivery();
    }

    const auto pass_started = SteadyClock::now();
    try {
      PassOptions options;
      options.progress = [this](const collectors::PassSummary&) {
        if (stopping) throw PassInterrupted();
      };
      const collectors::PassSummary summary = collection.pass(*source, options);
      set_state([&](SourceState& s) {
        s.problem.clear();
        s.pause_reason = summary.paused ? summary.pause_reason : std::string();
        s.deletes_withheld = summary.deletes_withheld;
        s.files_last_pass = summary.files_seen;
        s.last_duration_seconds = std::chrono::duration<double>(SteadyClock::now() - pass_started).count();
        (summary.paused ? s.passes_paused : s.passes_finished) += 1;
        if (!summary.paused) s.last_success_ms = unix_ms(SystemClock::now());
        s.added += summary.added;
        s.modified += summary.modified;
        s.renamed += summary.renamed;
        s.deleted += summary.deleted;
        s.unreadable += summary.unreadable;
        s.excluded_optout += summary.excluded_optout;
        s.excluded_since += summary.excluded_since;
        s.held += summary.held;
        s.objects += summary.objects;
        s.object_bytes += summary.object_bytes;
        for (std::size_t i = 0; i < s.anomalies.size(); ++i) s.anomalies[i] += summary.anomalies[i];
      });
      if (summary.objects > 0) wake_delivery();
      if (summary.paused) return paused_retry;
      if (summary.waiting > 0) {
        // Files still being written: look again once they have settled.
        return std::min<std::chrono::milliseconds>(interval, source->settle + 1s);
      }
      return interval;
    } catch (const PassInterrupted&) {
      logger.info("collect.interrupted", "collection pass interrupted; the next start continues it",
                  {{"source", label}});
      return interval;
    } catch (const std::exception& error) {
      logger.error("collect.failed", "collection pass failed; retrying", {{"source", label}, {"error", error.what()}});
      set_state([&](SourceState& s) {
        s.problem = error.what();
        ++s.passes_failed;
      });
      return std::min<std::chrono::milliseconds>(interval, failed_retry);
    }
  }

  // A change hint (inotify) for `label`: pass once the change has settled.
  void hint(const std::string& label) {
    const std::lock_guard lock(mutex);
    const auto found = sources.find(label);
    if (found == sources.end()) return;
    const SourcePass* pass = plan->find(label);
    const std::chrono::milliseconds settle = pass != nullptr ? pass->settle : std::chrono::milliseconds(0);
    const auto due = SteadyClock::now() + settle + 1s;
    if (due < found->second.due) {
      found->second.due = due;
      collect_wake.notify_one();
    }
  }

  // ---- the delivery thread ----

  // From any thread: objects were spooled, or withdrawals.
  void wake_delivery() {
    asio::post(io, [this] {
      delivery_poke = true;
      delivery_timer.cancel();
    });
  }

  // On the loop: the uploader's multi handle is driven by the io_context.
  asio::awaitable<void> delivery_loop() {
    delivery_running = true;
    try {
      spool::StateDb connection = runtime->state->another_connection();
      spool::Spool spool(connection, spool_dir(runtime->config), spool_limits(runtime->config),
                         spool_identity(*runtime), runtime->logger.named("spool"), spool::Clock{});
      int failures = 0;
      while (!stopping) {
        const std::shared_ptr<const Config> current = snapshot();
        Uploader uploader(current->central, current->facility.code, connection.gateway_id(), spool,
                          runtime->logger.named("upload"));
        DrainOptions options;
        options.give_up_after = 0;  // the service retries forever, with backoff
        options.control = &drain_control;
        options.counters = &upload;
        UploadReport report;
        try {
          report = co_await uploader.drain_async(options);
        } catch (const std::exception& error) {
          report.hard_error = true;
          report.error = error.what();
        }
        if (stopping) break;
        if (report.stopped) {  // a reload: drain again with the new settings
          drain_control.stop = false;
          continue;
        }
        std::chrono::milliseconds wait = idle_delivery_poll;
        if (report.hard_error) {
          ++failures;
          wait = delivery_backoff(failures);
          logger.error("upload.stopped", "uploads stopped; retrying later",
                       {{"error", report.error}, {"retry_in_s", static_cast<std::int64_t>(wait.count() / 1000)}});
        } else {
          failures = 0;
          if (report.outside_window) wait = outside_window_poll;
        }
        delivery_problem = report.hard_error ? report.error : std::string();
        outside_window = report.outside_window;
        if (report.delivered > 0) {
          // Room again: paused passes need not wait for their retry.
          const std::lock_guard lock(mutex);
          for (auto& [label, state] : sources) {
            if (!state.pause_reason.empty()) state.due = std::min(state.due, SteadyClock::now());
          }
          collect_wake.notify_one();
        }
        if (!delivery_poke && !stopping) {
          delivery_timer.expires_after(wait);
          boost::system::error_code ec;
          co_await delivery_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        delivery_poke = false;
      }
    } catch (const std::exception& error) {
      logger.error("service.worker_failed", "the delivery stopped on an error; the service stops so that systemd "
                   "restarts it", {{"worker", "delivery"}, {"error", error.what()}});
      exit_status = 1;
      delivery_running = false;
      shutdown("the delivery failed");
      co_return;
    }
    delivery_running = false;
    check_stopped();
  }

  // ---- the loop thread ----

  void start_worker(std::thread& thread, void (Impl::*body)(), std::string_view name) {
    ++workers_running;
    thread = std::thread([this, body, name = std::string(name)] {
      try {
        (this->*body)();
      } catch (const std::exception& error) {
        logger.error("service.worker_failed", "a worker stopped on an error; the service stops so that systemd "
                     "restarts it", {{"worker", name}, {"error", error.what()}});
        asio::post(io, [this] {
          exit_status = 1;
          shutdown("a worker failed");
        });
      }
      --workers_running;
      asio::post(io, [this] { check_stopped(); });
    });
  }

  void refresh_certificate(bool force) {
    const auto now = SteadyClock::now();
    if (!force && now - certificate_read < certificate_period) return;
    certificate_read = now;
    certificate = certificate_not_after(snapshot()->central.cert);
  }

  void refresh_health() {
    const std::shared_ptr<const Config> current = snapshot();
    const auto now = SystemClock::now();
    try {
      if (!reader) {
        reader.emplace(spool::StateDb::open(current->state_dir, spool::StateDb::Access::read_only,
                                            runtime->logger.named("statedb"), gateway_schema()));
      }
      spool_stats = spool::read_spool_stats(reader->db(), spool_dir(*current), spool_limits(*current), now);
    } catch (const std::exception& error) {
      reader.reset();
      logger.warn("status.stats_failed", "cannot read the spool statistics", {{"error", error.what()}});
    }
    refresh_certificate(false);

    std::vector<std::string> reasons;
    if (spool_stats && spool_stats->capacity != spool::Capacity::ok) {
      reasons.push_back(spool_stats->capacity == spool::Capacity::spool_full
                            ? "spool full (spool.max_bytes reached): collection paused until uploads free room"
                            : "disk low (free space below spool.min_free): collection paused until there is room");
    }
    {
      const std::lock_guard lock(mutex);
      if (!policy_problem.empty()) reasons.push_back("opt-out list unusable, nothing is collected: " + policy_problem);
      bool paused = false;
      for (const auto& [label, state] : sources) {
        if (!state.problem.empty()) {
          reasons.push_back(state.problem.starts_with("source ") ? state.problem
                                                                 : "source " + label + ": " + state.problem);
        }
        if (state.deletes_withheld) {
          reasons.push_back("source " + label + ": most of its files vanished at once; the deletions are not sent "
                            "(an unmounted share?). If they were really deleted, run medgw collect --once "
                            "--accept-deletions with the service stopped");
        }
        paused = paused || !state.pause_reason.empty();
      }
      // The spool refused the last pass of a source (an object would not
      // fit): back-pressure, even while spooled bytes are below the limit.
      if (paused && reasons_capacity_ok(reasons)) {
        for (const auto& [label, state] : sources) {
          if (state.pause_reason.empty()) continue;
          reasons.push_back("collection paused (" + label + "): " + state.pause_reason);
          break;
        }
      }
    }
    if (!delivery_problem.empty()) reasons.push_back("uploads stopped: " + delivery_problem);
    if (const std::int64_t since = upload.failing_since_ms.load(); since != 0) {
      const auto failing = std::chrono::milliseconds(unix_ms(now) - since);
      if (failing > upload_failing_after) {
        reasons.push_back("uploads failing for " + human_minutes(failing) + " (see the log: upload.retry)");
      }
    }
    if (const auto* not_after = std::get_if<SystemClock::time_point>(&certificate)) {
      const auto left = std::chrono::duration_cast<std::chrono::hours>(*not_after - now).count();
      const std::string date = base::rfc3339_utc(*not_after).substr(0, 10);
      if (*not_after <= now) {
        reasons.push_back("certificate central.cert expired on " + date + ": renew it (uploads are refused)");
      } else if (left < 24 * certificate_warning_days) {
        reasons.push_back("certificate central.cert expires in " + std::to_string(left / 24) + " days (" + date +
                          "): renew it");
      }
    } else {
      reasons.push_back("certificate central.cert: " + std::get<std::string>(certificate));
    }
    if (reasons != health_reasons) {
      for (const std::string& reason : reasons) {
        if (std::find(health_reasons.begin(), health_reasons.end(), reason) == health_reasons.end()) {
          logger.warn("health.degraded", "health check failing", {{"reason", reason}});
        }
      }
      if (reasons.empty() && !health_reasons.empty()) logger.info("health.ok", "all health checks pass again");
      health_reasons = std::move(reasons);
    }
    std::string line = health_reasons.empty() ? "healthy" : "DEGRADED: " + health_reasons.front();
    if (spool_stats) {
      line += "; " + std::to_string(spool_stats->ready_objects + spool_stats->uploading_objects) + " objects waiting, " +
              std::to_string(upload.delivered.load()) + " delivered since start";
    }
    if (line != status_line && !stopping) {
      status_line = line;
      notifier.status(status_line);
    }
  }

  // Whether no spool-capacity reason is listed yet (one is enough).
  static bool reasons_capacity_ok(const std::vector<std::string>& reasons) {
    return std::none_of(reasons.begin(), reasons.end(), [](const std::string& reason) {
      return reason.starts_with("spool full") || reason.starts_with("disk low");
    });
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
      {
        const std::lock_guard lock(mutex);
        ++reloads_failed;
      }
      notifier.ready("reload failed, old configuration in force; " + status_line);
      return;
    }
    for (const Diagnostic& warning : check_environment(loaded)) {
      logger.warn("config.warning", "the new configuration has a warning", {{"warning", warning.format()}});
    }
    Config next = std::move(*loaded.config);
    const std::shared_ptr<const Config> old = snapshot();
    // What is bound at start-up keeps its value until the next restart.
    auto keep = [&](bool differs, std::string_view key, auto& field, const auto& value) {
      if (!differs) return;
      logger.warn("config.needs_restart", "a changed setting takes effect only after a restart",
                  {{"key", std::string(key)}});
      field = value;
    };
    keep(next.state_dir != old->state_dir, "state_dir", next.state_dir, old->state_dir);
    keep(next.facility.code != old->facility.code, "facility.code", next.facility.code, old->facility.code);
    keep(next.status.listen != old->status.listen, "status.listen", next.status.listen, old->status.listen);
    keep(next.log.file != old->log.file, "log.file", next.log.file, old->log.file);
    // Applied now: log.level here; spool.* and central.recipients by the collector before its next pass.
    if (next.log.level != old->log.level) {
      runtime->set_log_level(log::parse_level(next.log.level).value_or(log::Level::info));
    }
    auto fresh = std::make_shared<const Config>(std::move(next));
    auto fresh_plan = std::make_shared<const SourcePlan>(*fresh);
    {
      const std::lock_guard lock(mutex);
      config = fresh;
      plan = fresh_plan;
      std::map<std::string, SourceState> kept;
      for (const SourcePass& pass : fresh_plan->passes()) {
        auto found = sources.find(pass.label);
        if (found != sources.end()) {
          kept[pass.label] = std::move(found->second);
          // A changed scan_interval applies from now on.
          kept[pass.label].due = std::min(kept[pass.label].due, SteadyClock::now() + pass.scan_interval);
        } else {
          kept[pass.label].due = SteadyClock::now();
        }
      }
      sources = std::move(kept);
      ++reloads_ok;
    }
    collect_wake.notify_one();
    delivery_poke = true;
    delivery_timer.cancel();
    drain_control.request_stop();
    if (hints) hints->watch(watch_list(*fresh_plan));
    refresh_certificate(true);
    refresh_health();
    logger.info("config.reloaded", "configuration reloaded", {{"file", config_path.string()}});
    notifier.ready(status_line);
  }

  static std::vector<std::pair<std::string, std::filesystem::path>> watch_list(const SourcePlan& current) {
    std::vector<std::pair<std::string, std::filesystem::path>> roots;
    for (const SourcePass& pass : current.passes()) {
      if (!pass.root.empty()) roots.emplace_back(pass.label, pass.root);
    }
    return roots;
  }

  void shutdown(std::string_view why) {
    if (stopping.exchange(true)) return;
    drain_control.request_stop();
    delivery_timer.cancel();
    notifier.stopping(why);
    logger.info("service.stopping", "stopping: interrupting the pass and the uploads at a resumable point",
                {{"why", std::string(why)}});
    if (status_server) status_server->stop();
    if (hints) hints->stop();
    health_timer.cancel();
    signals.cancel();
    collect_wake.notify_all();
    stop_timer.expires_after(stop_deadline);
    stop_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      logger.error("service.stop_timeout", "work did not stop within the deadline; exiting anyway (nothing is lost: "
                   "the next start resumes)", {{"deadline_s", static_cast<std::int64_t>(stop_deadline.count())}});
      std::_Exit(1);
    });
    check_stopped();
  }

  void check_stopped() {
    if (!stopping || workers_running.load() > 0 || delivery_running) return;
    stop_timer.cancel();
    watchdog_timer.cancel();
    io.stop();
  }

  HttpAnswer answer(std::string_view path) {
    if (path == "/healthz") {
      refresh_health();
      if (health_reasons.empty()) return {200, "text/plain; charset=utf-8", "ok\n"};
      std::string body;
      for (const std::string& reason : health_reasons) body += reason + "\n";
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
    const std::shared_ptr<const Config> current = snapshot();
    const auto now = SystemClock::now();
    return status_json(*current, now, [&](base::JsonWriter& doc) {
      doc.key("daemon").begin_object();
      doc.field("pid", static_cast<std::int64_t>(::getpid()));
      doc.field("version", std::string(build_info::version));
      doc.field("started", base::rfc3339_utc(started));
      doc.field("healthy", health_reasons.empty());
      doc.key("problems").begin_array();
      for (const std::string& reason : health_reasons) doc.value(reason);
      doc.end_array();
      {
        const std::lock_guard lock(mutex);
        doc.key("collections").begin_array();
        for (const auto& [label, state] : sources) {
          doc.begin_object().field("label", label).field("running", state.running);
          const auto due = std::chrono::duration_cast<std::chrono::seconds>(state.due - SteadyClock::now()).count();
          doc.field("next_pass_in_seconds", static_cast<std::int64_t>(std::max<std::int64_t>(due, 0)));
          if (!state.problem.empty()) doc.field("problem", state.problem);
          if (!state.pause_reason.empty()) doc.field("paused", state.pause_reason);
          doc.end_object();
        }
        doc.end_array();
      }
      doc.key("uploads").begin_object();
      doc.field("delivered_since_start", upload.delivered.load());
      doc.field("outside_window", outside_window);
      if (!delivery_problem.empty()) doc.field("problem", delivery_problem);
      doc.end_object();
      doc.end_object();
    });
  }

  std::string metrics() {
    PrometheusText m;
    m.family("medgw_build_info", "gauge", "Version of the running medgw.");
    m.sample(std::int64_t{1}, {{"version", build_info::version}});
    m.family("medgw_start_time_seconds", "gauge", "When this process started (Unix time).");
    m.sample(unix_seconds(unix_ms(started)));
    m.family("medgw_healthy", "gauge", "1 when every health check passes (/healthz answers 200).");
    m.sample(std::int64_t{health_reasons.empty() ? 1 : 0});
    m.family("medgw_health_problems", "gauge", "Number of failing health checks.");
    m.sample(static_cast<std::uint64_t>(health_reasons.size()));
    {
      const std::lock_guard lock(mutex);
      m.family("medgw_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
      m.sample(reloads_ok, {{"result", "ok"}});
      m.sample(reloads_failed, {{"result", "failed"}});
      auto per_source = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
        m.family(name, type, help);
        for (const auto& [label, state] : sources) m.sample(value(state), {{"source", label}});
      };
      per_source("medgw_source_files", "gauge", "Files seen by the last collection pass.",
                 [](const SourceState& s) { return s.files_last_pass; });
      per_source("medgw_source_up", "gauge", "0 when the source could not be read by the last pass.",
                 [](const SourceState& s) { return std::int64_t{s.problem.empty() ? 1 : 0}; });
      m.family("medgw_collection_passes_total", "counter", "Collection passes by outcome.");
      for (const auto& [label, state] : sources) {
        m.sample(state.passes_finished, {{"source", label}, {"outcome", "finished"}});
        m.sample(state.passes_paused, {{"source", label}, {"outcome", "paused"}});
        m.sample(state.passes_failed, {{"source", label}, {"outcome", "failed"}});
      }
      m.family("medgw_files_collected_total", "counter", "Source file changes sent, by kind of change.");
      for (const auto& [label, state] : sources) {
        m.sample(state.added, {{"source", label}, {"change", "new"}});
        m.sample(state.modified, {{"source", label}, {"change", "modified"}});
        m.sample(state.renamed, {{"source", label}, {"change", "renamed"}});
        m.sample(state.deleted, {{"source", label}, {"change", "deleted"}});
      }
      m.family("medgw_files_not_sent_total", "counter", "Files not sent, by reason (policy, unreadable).");
      for (const auto& [label, state] : sources) {
        m.sample(state.excluded_optout, {{"source", label}, {"reason", "optout"}});
        m.sample(state.excluded_since, {{"source", label}, {"reason", "before_since"}});
        m.sample(state.held, {{"source", label}, {"reason", "held_unidentified"}});
        m.sample(state.unreadable, {{"source", label}, {"reason", "unreadable"}});
      }
      m.family("medgw_anomalies_total", "counter", "Files sent with an anomaly, by kind (the hospital should look).");
      for (const auto& [label, state] : sources) {
        for (std::size_t i = 0; i < state.anomalies.size(); ++i) {
          m.sample(state.anomalies[i],
                   {{"source", label}, {"kind", collectors::anomaly_name(static_cast<collectors::Anomaly>(i))}});
        }
      }
      per_source("medgw_objects_spooled_total", "counter", "Objects written to the spool by collection.",
                 [](const SourceState& s) { return s.objects; });
      per_source("medgw_spooled_bytes_total", "counter", "Bytes of the objects written to the spool.",
                 [](const SourceState& s) { return s.object_bytes; });
      per_source("medgw_last_scan_success_timestamp_seconds", "gauge",
                 "When the last complete collection pass ended (Unix time; 0 = none yet).",
                 [](const SourceState& s) { return unix_seconds(s.last_success_ms); });
      per_source("medgw_last_scan_duration_seconds", "gauge", "How long the last collection pass took.",
                 [](const SourceState& s) { return s.last_duration_seconds; });
    }
    if (spool_stats) {
      m.family("medgw_spool_objects", "gauge", "Objects in the spool by state.");
      m.sample(spool_stats->ready_objects, {{"state", "ready"}});
      m.sample(spool_stats->uploading_objects, {{"state", "uploading"}});
      m.sample(spool_stats->rejected_objects, {{"state", "rejected"}});
      m.family("medgw_spool_bytes", "gauge", "Bytes held in the spool.");
      m.sample(spool_stats->spooled_bytes);
      m.family("medgw_spool_max_bytes", "gauge", "spool.max_bytes.");
      m.sample(spool_stats->limits.max_bytes);
      m.family("medgw_spool_free_bytes", "gauge", "Free space on the spool's filesystem.");
      m.sample(spool_stats->free_bytes);
      m.family("medgw_spool_oldest_ready_age_seconds", "gauge", "Age of the oldest object waiting (0 = none).");
      m.sample(spool_stats->oldest_ready_age ? std::chrono::duration<double>(*spool_stats->oldest_ready_age).count() : 0.0);
      m.family("medgw_spool_accepting", "gauge", "0 while the spool refuses new objects (full or disk low).");
      m.sample(std::int64_t{spool_stats->capacity == spool::Capacity::ok ? 1 : 0});
      m.family("medgw_objects_lost_total", "counter", "Spooled objects found damaged or missing (ever).");
      m.sample(spool_stats->lost_objects);
    }
    m.family("medgw_objects_delivered_total", "counter", "Objects the central confirmed.");
    m.sample(upload.delivered.load());
    m.family("medgw_delivered_bytes_total", "counter", "Bytes of the objects the central confirmed.");
    m.sample(upload.delivered_bytes.load());
    m.family("medgw_upload_sent_bytes_total", "counter", "Bytes sent to the central, including what was sent again.");
    m.sample(upload.bytes_sent.load());
    m.family("medgw_receipts_verified_total", "counter", "Signed receipts of the central that were verified.");
    m.sample(upload.receipts_verified.load());
    m.family("medgw_upload_errors_total", "counter", "Failed requests to the central, by class.");
    for (std::size_t i = 0; i < upload.errors.size(); ++i) {
      m.sample(upload.errors[i].load(), {{"class", upload_error_class_name(static_cast<UploadErrorClass>(i))}});
    }
    m.family("medgw_last_upload_success_timestamp_seconds", "gauge",
             "When the central last confirmed an object (Unix time; 0 = not since start).");
    m.sample(unix_seconds(upload.last_delivered_ms.load()));
    if (const auto* not_after = std::get_if<SystemClock::time_point>(&certificate)) {
      m.family("medgw_certificate_expiry_timestamp_seconds", "gauge", "When central.cert expires (Unix time).");
      m.sample(unix_seconds(unix_ms(*not_after)));
      m.family("medgw_certificate_expiry_seconds", "gauge", "Time left until central.cert expires (negative: expired).");
      m.sample(std::chrono::duration<double>(*not_after - SystemClock::now()).count());
    }
    return m.text();
  }

  int run() {
    const std::shared_ptr<const Config> current = snapshot();
    signals.add(SIGHUP);
    signals.add(SIGTERM);
    signals.add(SIGINT);
    wait_for_signal();
    status_server.emplace(io, runtime->logger.named("status"), [this](std::string_view path) { return answer(path); });
    try {
      status_port = status_server->start(current->status.listen);
    } catch (const std::exception& error) {
      logger.error("service.start_failed", "cannot start the status server", {{"error", error.what()}});
      return 1;
    }
    hints.emplace(io, runtime->logger.named("hints"), [this](const std::string& label) { hint(label); });
    hints->watch(watch_list(*plan));
    refresh_certificate(true);
    refresh_health();
    start_worker(collector, &Impl::collector_loop, "collector");
    asio::co_spawn(io, delivery_loop(), asio::detached);
    schedule_health();
    if (const auto interval = notifier.watchdog_interval()) {
      notifier.watchdog();
      schedule_watchdog(*interval);
    }
    const std::string listen = current->status.listen.substr(0, current->status.listen.rfind(':')) + ":" +
                               std::to_string(status_port);
    logger.info("service.ready", "medgw is running",
                {{"status", "http://" + listen + "/status"}, {"sources", static_cast<std::int64_t>(sources.size())},
                 {"watchdog", notifier.watchdog_interval() ? "on" : "off"}});
    notifier.ready(status_line);
    while (true) {
      try {
        io.run();
        break;
      } catch (const std::exception& error) {
        logger.error("service.loop_error", "an event handler failed; continuing", {{"error", error.what()}});
      }
    }
    if (collector.joinable()) collector.join();
    logger.info("service.stopped", "medgw stopped", {});
    return exit_status;
  }
};

Service::Service(std::filesystem::path config_path, std::unique_ptr<Runtime> runtime)
    : impl_(std::make_unique<Impl>(std::move(config_path), std::move(runtime))) {}

Service::~Service() = default;

int Service::run() { return impl_->run(); }

}  // namespace medgw::daemon
