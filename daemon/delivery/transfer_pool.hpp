#pragma once
// The objects one drain has under way, on the drain's curl multi handle: up
// to DrainOptions::parallel requests at once, each object's tus state machine
// fed with what its request got back, and the machine's decisions applied -
// spool actions in order, counters, the log, backoff.
#include <daemon/delivery/http_profile.hpp>
#include <daemon/delivery/tus_transfer.hpp>
#include <daemon/delivery/uploader.hpp>

#include <spool/spool.hpp>

#include <base/log.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <curl/curl.h>

namespace medgw::daemon {

class TransferPool {
 public:
  struct Context {
    const tus::Session& session;
    const HttpProfile& profile;
    std::uint64_t bandwidth = 0;  // central.bandwidth, bytes/s across all uploads; 0 = no cap
    spool::Spool& spool;
    CURLM* multi;  // owned by the drain
    const DrainOptions& options;
    UploadReport& report;
    const log::Logger& logger;
  };

  explicit TransferPool(Context context);
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;
  ~TransferPool();  // removes what is still running from the multi handle: the next drain resumes with HEAD

  // Takes due objects from the spool when a slot could use one: at once after
  // a request finished, otherwise at most every 250 ms (not at every socket
  // event: a query each time slows a large upload down).
  void refill();
  // Starts the requests whose backoff is over, up to `parallel`; objects with
  // an open upload first, and at most `parallel` uploads open.
  void start_due();
  // Feeds the requests curl has finished to their machines.
  void collect_finished();
  [[nodiscard]] bool idle() const noexcept { return waiting_.empty() && running_.empty(); }
  [[nodiscard]] bool has_running() const noexcept { return !running_.empty(); }
  // How long to wait for sockets: until the next backoff ends, at most 1 s.
  [[nodiscard]] std::chrono::milliseconds next_wait() const;

 private:
  struct Slot;
  void launch(Slot& slot);
  [[nodiscard]] std::size_t open_uploads() const;  // on the central, this drain's
  void complete(CURL* easy, CURLcode code);
  void apply(Slot& slot, const tus::Decision& decision);
  void apply_action(const Slot& slot, const tus::Action& action);
  void count_failure(const Slot& slot, const tus::Decision& decision);
  void count_receipt(const Slot& slot, const tus::ReceiptNote& note);
  void count_delivery(const Slot& slot);

  Context context_;
  std::deque<std::unique_ptr<Slot>> waiting_;  // not started, or backing off
  std::map<CURL*, std::unique_ptr<Slot>> running_;
  std::set<std::string> known_;  // taken from the spool in this drain
  std::chrono::steady_clock::time_point last_refill_{};
  bool finished_since_refill_ = true;
};

}  // namespace medgw::daemon
