#pragma once
// `medgw run`: the always-on service (DESIGN.md §3, STYLE.md "Async and
// lifecycle").
//
// One io_context on the main thread owns the signals (SIGHUP reload,
// SIGTERM/SIGINT graceful stop), the status server (/healthz, /metrics,
// /status), the systemd notifications and the watchdog, the health checks
// and the change hints (inotify). The work is done by jobs (job.hpp),
// started in order and stopped in reverse: the collection (collector_job:
// one worker thread, a pass at a time) and the delivery (delivery_job: the
// tus uploader on the loop). Reload parses and validates the file, then
// swaps an immutable snapshot and hands it to every job; a bad file keeps
// the old configuration.
#include <daemon/runtime/runtime.hpp>

#include <filesystem>
#include <memory>

namespace medgw::daemon {

class Service {
 public:
  // `runtime` was opened from the config at `config_path` (the writer lock
  // is held).
  Service(std::filesystem::path config_path, std::unique_ptr<Runtime> runtime);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Runs until SIGTERM or SIGINT; returns the exit status (0 after a clean
  // stop, 1 when start-up failed).
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medgw::daemon
