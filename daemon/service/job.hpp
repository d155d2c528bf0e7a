#pragma once
// A long-lived activity of `medgw run` (STYLE.md "Rooms for capabilities"):
// the collection, the delivery, and later the backup schedule or certificate
// renewal. The Service starts its jobs in order and stops them in reverse,
// hands them each new configuration, and asks them for their health,
// metrics and status. A job never reaches another directly: what one must
// tell another (objects were spooled, room was freed) is a callback the
// Service wires when it builds them.
#include <daemon/config/config.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>
#include <daemon/service/prometheus_text.hpp>

#include <base/json.hpp>
#include <base/log.hpp>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace medgw::daemon {

// The configuration in force and what is derived from it, immutable; a
// reload swaps in a new one.
struct Snapshot {
  explicit Snapshot(Config loaded) : config(std::move(loaded)), plan(config) {}
  Config config;
  SourcePlan plan;
};

// What the Service gives every job.
struct JobContext {
  boost::asio::io_context& io;  // the loop: jobs' handlers run on its one thread
  Runtime& runtime;             // state.db, the spool, keys, logging (bound at start-up)
  std::function<std::shared_ptr<const Snapshot>()> snapshot;  // the configuration in force
};

class Job {
 public:
  // Called once, on the loop, when the job has ended for good: with an
  // empty text after stop(), with what went wrong when it failed (the
  // service then stops, so that systemd restarts it).
  using Done = std::function<void(std::string failure)>;

  virtual ~Job() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  // On the loop thread, after the status server is up.
  virtual void start(Done done) = 0;
  // Ends the work at a resumable point (nothing is lost: invariants 1-2).
  virtual void stop() = 0;
  // A new configuration was swapped in (on the loop thread).
  virtual void reload(const std::shared_ptr<const Snapshot>& snapshot) { (void)snapshot; }

  // On the loop thread. Each failing check adds one line saying what to do.
  virtual void health(std::vector<std::string>& reasons) const { (void)reasons; }
  virtual void metrics(PrometheusText& out) const { (void)out; }
  // Its part of /status's "daemon" object.
  virtual void status(base::JsonWriter& doc) const { (void)doc; }
};

// Starts `worker` on `body` (a job's loop on its own thread). When the body
// returns, or throws (logged as service.worker_failed: the service then
// stops so that systemd restarts it), the thread is joined on the loop and
// `done` is called there with the failure, if any.
void start_worker(std::thread& worker, JobContext& context, const log::Logger& logger, std::string_view name,
                  std::function<void()> body, Job::Done done);

}  // namespace medgw::daemon
