#pragma once
// `medgw run`: the always-on service (DESIGN.md §3, STYLE.md "Async and
// lifecycle").
//
// One io_context on the main thread owns the signals (SIGHUP reload,
// SIGTERM/SIGINT graceful stop), the status server (/healthz, /metrics,
// /status), the systemd notifications and the watchdog, the health checks and
// the change hints (inotify). The CPU- and disk-heavy work runs beside it on
// a bounded set of threads, each with its own SQLite connection to state.db:
//   - the collector: one pass at a time, each source on its scan_interval or
//     sooner after a change hint; a pass the spool refuses pauses and is
//     retried as uploads free room;
//   - the delivery: the tus uploader (its own libcurl multi handle), woken
//     when objects are spooled, retrying forever with backoff.
// Reload parses and validates the file, then swaps an immutable snapshot;
// each thread picks it up at its next pass or drain. A bad file keeps the old
// configuration.
#include <daemon/runtime.hpp>

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
