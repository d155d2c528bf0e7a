#pragma once
// `medgw run`: the always-on service (DESIGN.md §3, STYLE.md "Async and
// lifecycle").
//
// One io_context on the main thread owns the signals (SIGHUP reload,
// SIGTERM/SIGINT graceful stop), the status server (/healthz, /metrics,
// /status), the systemd notifications and the watchdog, the health checks,
// the change hints (inotify) and the delivery: the tus uploader, whose
// libcurl multi handle is driven by the io_context's reactor (CurlDriver),
// woken when objects are spooled and retrying forever with backoff. The
// collector runs beside it on one worker thread (a pass at a time, each
// source on its scan_interval or sooner after a change hint; a pass the spool
// refuses pauses and is retried as uploads free room), with its own SQLite
// connection to state.db.
// Reload parses and validates the file, then swaps an immutable snapshot;
// the collector picks it up at its next pass, the delivery restarts its drain
// at once. A bad file keeps the old configuration.
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
