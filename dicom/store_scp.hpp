#pragma once
// The DICOM storage SCP of a `dicom` source in receive mode: a listening
// socket on the configured address, one thread per association (at most
// `max_associations`; more are rejected as "local limit exceeded"), C-ECHO
// and C-STORE. A C-STORE's data set is streamed to a private file in the
// staging area, fsynced, checked (read_instance) and
// moved into its study before the response says Success: an instance the
// PACS was told is stored survives a kill -9 or power cut. When the spool
// and staging are full (`room` says no) the data set is read and dropped
// and the response is A700 (out of resources), so the PACS retries later.
//
// Hostile peers: the association request must come within 30 s and be at
// most 64 KiB; a PDU longer than the length we announced, a PDV on a
// context that was not accepted, a malformed command or silence longer
// than `idle_timeout` ends the association (A-ABORT). Nothing a peer sends
// is logged except AE titles, addresses, UIDs of syntaxes and counts.
#include <dicom/staging.hpp>

#include <base/log.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace medgw::dicom {

struct ScpSettings {
  std::string source;           // the source's name (logs, metrics)
  std::string listen;           // host:port; port 0 picks a free one (tests)
  std::string ae_title;         // the called AE title we answer to
  std::vector<std::string> allow;  // calling AE titles, each optionally AE@address
  std::size_t max_associations = 8;
  std::chrono::seconds idle_timeout{60};
  std::uint32_t max_pdu = 256U << 10;
};

struct ScpCounters {
  std::atomic<std::uint64_t> associations{0};
  std::atomic<std::uint64_t> associations_rejected{0};
  std::atomic<std::uint64_t> associations_aborted{0};
  std::atomic<std::uint64_t> instances_stored{0};
  std::atomic<std::uint64_t> bytes_stored{0};
  std::atomic<std::uint64_t> refused_no_room{0};    // A700
  std::atomic<std::uint64_t> refused_invalid{0};    // not DICOM, truncated, missing UIDs...
  std::atomic<std::uint64_t> contexts_refused{0};   // abstract or transfer syntax not accepted
  std::atomic<std::uint64_t> echoes{0};
};

class StoreScp {
 public:
  // Whether a data set may be accepted now (spool and staging below their
  // limit, disk above its floor); called from the association threads.
  using RoomCheck = std::function<bool()>;

  StoreScp(ScpSettings settings, std::shared_ptr<const Staging> staging, RoomCheck room, log::Logger logger);
  ~StoreScp();
  StoreScp(const StoreScp&) = delete;
  StoreScp& operator=(const StoreScp&) = delete;

  // Binds and starts listening. Throws std::runtime_error naming the
  // address and what to do when it cannot.
  void start();
  // Ends every association (an instance not yet answered is not stored:
  // the PACS sends it again) and joins the threads.
  void stop();

  [[nodiscard]] const ScpCounters& counters() const noexcept { return *counters_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::size_t active_associations() const;
  [[nodiscard]] bool running() const noexcept { return running_; }

  struct Shared;  // what the association threads share (store_scp.cpp)

 private:
  void accept_loop();
  void reap(bool all);

  ScpSettings settings_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<ScpCounters> counters_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> running_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
};

}  // namespace medgw::dicom
