#pragma once
// Delivery of spooled objects to the central: a tus 1.0 client (core,
// creation, termination; checksum when the server offers it) on one libcurl
// multi handle, over mutual TLS (DESIGN.md §6, invariants 2 and 6).
//
// After the spool is drained, the erasure receipts of delivered withdraw
// objects are asked for (erasure_check.hpp).
//
// Per object: POST (Upload-Length, Upload-Metadata) and the Location is
// persisted before any data; PATCH pieces of central.chunk, the offset
// recorded every 64 MiB; after any failure HEAD and resume from the server's
// Upload-Offset (404/410: a new upload). An object leaves the spool only when
// the server reports offset == length; then its receipt is fetched and
// verified when the server offers one. Transient failures retry with capped
// exponential backoff and full jitter (Retry-After honoured); a permanent
// refusal (4xx other than 404/409/410/423/429/460) moves the object to
// `rejected`.
//
// Where: tus_transfer.hpp is the per-object state machine (no sockets);
// http_profile.hpp the TLS, proxy and timeout settings from central.*;
// receipt.hpp the receipt check; transfer_pool.hpp runs the machines on the
// multi handle drain_async owns, which curl_driver.hpp drives.
#include <daemon/config/config.hpp>
#include <daemon/delivery/upload_error_class.hpp>  // UploadErrorClass, upload_error_class_name

#include <spool/spool.hpp>

#include <base/log.hpp>

#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace medgw::daemon {

struct UploadReport {
  std::uint64_t delivered = 0;
  std::uint64_t delivered_bytes = 0;    // sizes of the objects delivered
  std::uint64_t bytes_sent = 0;         // PATCH bytes on the wire (includes what was sent again)
  std::uint64_t rejected = 0;
  std::uint64_t retries = 0;            // failed requests that were retried
  std::uint64_t receipts_verified = 0;
  std::uint64_t receipts_unverified = 0;  // receipt present, no central.receipt_key to check it
  std::uint64_t receipts_missing = 0;     // the server offers none (a plain tus server)
  std::uint64_t receipts_invalid = 0;     // alarm: a receipt that does not check out
  std::uint64_t unconfirmed = 0;          // objects kept because their receipt did not check out
  // Withdrawals (erasure_check.hpp): withdraw objects the central confirmed
  // erased now; not landed there yet; receipts that did not check out; and
  // those that cannot be confirmed (a plain tus server, or no central.receipt_key).
  std::uint64_t erasures_confirmed = 0;
  std::uint64_t erasures_pending = 0;
  std::uint64_t erasures_invalid = 0;
  std::uint64_t erasures_unconfirmable = 0;
  bool hard_error = false;              // stopped: TLS refused, or no progress within the retry budget
  bool outside_window = false;          // central.window closed: resumed in the next window
  bool stopped = false;                 // DrainOptions::stop was set
  std::string error;                    // operator-facing, names what to check
  std::chrono::milliseconds duration{};
};

// Running totals the daemon reads while a drain is in progress (another
// thread: atomics only). Times are Unix milliseconds, 0 = never.
struct UploadCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> delivered_bytes{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> receipts_verified{0};
  std::array<std::atomic<std::uint64_t>, upload_error_class_count> errors{};
  std::atomic<std::int64_t> last_delivered_ms{0};
  // Since when requests have been failing without any success in between.
  std::atomic<std::int64_t> failing_since_ms{0};

  void count_error(UploadErrorClass error_class);
  void count_success();
};

struct Control;

struct DrainOptions {
  // Requests at once, and uploads open at most (bench/upload, 10,000 small
  // objects on a journaled ext4: ~990/s at 16, ~810/s at 8, ~490/s at 4;
  // on ext4 without a journal, medians of 3 rounds: ~1,300-1,380/s at 32,
  // ~1,020-1,150/s at 24, ~1,030-1,100/s at 16). Half the receiver's default
  // max_open_uploads_per_facility (64; it was 32, and 16 before that).
  std::size_t parallel = 32;
  // --once gives up after this many failures in a row of one object without
  // progress; 0 = never (the daemon retries forever).
  int give_up_after = 8;
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_cap{30'000};
  struct Control* control = nullptr;
  UploadCounters* counters = nullptr;
};

// Lets the owner of a drain_async end it at the next resumable point (every
// request's progress is on the central; the next drain resumes with HEAD).
// Used on the drain's own io_context thread.
struct Control {
  bool stop = false;
  std::function<void()> wake;  // set by the drain while it runs
  void request_stop() {
    stop = true;
    if (wake) wake();
  }
};

class Uploader {
 public:
  Uploader(const CentralConfig& central, std::string facility, std::string gateway, spool::Spool& spool,
           log::Logger logger);

  // Delivers what the spool holds until it is empty or a hard error, on the
  // caller's io_context: the multi handle is driven by its reactor.
  [[nodiscard]] boost::asio::awaitable<UploadReport> drain_async(DrainOptions options);
  // The same on an io_context of its own (medgw upload --once).
  [[nodiscard]] UploadReport drain(const DrainOptions& options = {});

 private:
  const CentralConfig& central_;
  std::string facility_;
  std::string gateway_;
  spool::Spool& spool_;
  log::Logger logger_;
};

// Throws std::runtime_error with what to do when the client key is readable
// by group or other, or a file central.* names cannot be read.
void check_client_credentials(const CentralConfig& central);

}  // namespace medgw::daemon
