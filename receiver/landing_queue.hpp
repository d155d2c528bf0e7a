#pragma once
// What lands when (issue 14, finding 7), on one worker thread: each
// facility's objects strictly in seq order, a few at a time per facility so
// that one facility's backlog does not hold up the others.
//
//  - An object that cannot be landed because of what it is (a name outside
//    the tree, a member its manifest does not list, a decompression bomb,
//    a file where a folder must go...) is QUARANTINED with a stable reason:
//    an ALARM log event (receiver.landing_quarantined), `medgw-receiver
//    status` lists it, and landing continues with the next seq. The object
//    stays in the store; nothing is deleted.
//  - `medgw-receiver landing retry SEQ --facility CODE` lands it again and
//    then every later object again, in order, so the tree ends as if it had
//    never been quarantined (add/modify carry whole files; renames and
//    deletions repeat safely). `landing skip` gives it up, recorded.
//  - A failure of the environment (disk full, permissions, I/O) does not
//    quarantine: the facility's landing pauses (receiver.landing_paused,
//    status) and the same object is tried again with back-off.
// The worker also polls receiver.db every few seconds, so the operator's
// commands (another process) take effect without a restart.
//
// An object that withdrew patients, once landed (they are erased in every
// source: landing_erasure.hpp), gets an erasure receipt signed with the
// receipt key, recorded with its landing result; gateways fetch it at
// GET <base_path>erasures/<object_id> (docs/architecture.md).
#include <receiver/landing.hpp>
#include <receiver/receiver_config.hpp>
#include <receiver/store.hpp>

#include <crypto/age.hpp>
#include <crypto/patient_tag.hpp>
#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <string>

namespace medgw::receiver {

class LandingQueue {
 public:
  LandingQueue(const ReceiverConfig& config, Store& store, crypto::age::Identities identities,
               crypto::PatientTagger tagger, const crypto::SigningKey& receipt_key, log::Logger logger);
  ~LandingQueue();
  LandingQueue(const LandingQueue&) = delete;
  LandingQueue& operator=(const LandingQueue&) = delete;

  // Starts the periodic check (every configured facility, and every
  // facility with objects).
  void start();
  // Something new for the facility; any thread.
  void schedule(const std::string& facility);
  void stop();

 private:
  struct Pause {
    std::chrono::steady_clock::time_point until{};
    std::chrono::seconds backoff{0};
    std::string reason;
  };
  void land_ready(const std::string& facility);
  // True when the facility should be looked at again at once (more to land).
  bool land_one(const StoredObject& object);
  // The signed erasure receipt of a landed object that withdrew patients.
  [[nodiscard]] std::string erasure_receipt(const StoredObject& object, const crypto::ErasureCounts& counts) const;
  void poll();

  const ReceiverConfig& config_;
  Store& store_;
  crypto::age::Identities identities_;
  crypto::PatientTagger tagger_;
  const crypto::SigningKey& receipt_key_;
  log::Logger logger_;
  boost::asio::thread_pool pool_{1};  // one thread: a facility's objects land in seq order
  boost::asio::steady_timer poll_timer_;
  std::map<std::string, Pause> paused_;  // worker thread only
  bool stopped_ = false;                 // worker thread only
};

}  // namespace medgw::receiver
