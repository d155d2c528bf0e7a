#pragma once
// Confirming withdrawals (issue 19): after the spool is drained, the drain
// asks the central for the erasure receipt of each withdraw object it has
// delivered whose erasure is not confirmed yet (GET <url>erasures/<object_id>,
// offered by medgw-receiver: Medgw-Erasures). Landing is asynchronous at the
// central, so "not yet" (202) is normal: the object is asked for again at the
// next drain. A receipt that verifies with central.receipt_key is recorded in
// state.db (collectors/optout_erasure.hpp); one that does not is an ALARM and
// is asked for again. No patient is named anywhere: objects by seq.
#include <daemon/delivery/tus_transfer.hpp>
#include <daemon/delivery/uploader.hpp>

#include <collectors/optout_erasure.hpp>

#include <base/log.hpp>
#include <base/sqlite.hpp>

#include <optional>
#include <vector>

namespace medgw::daemon {

class ErasureChecks {
 public:
  ErasureChecks(const tus::Session& session, base::Database& db, UploadReport& report, const log::Logger& logger);

  // The next request to make, or nullopt when every object was asked.
  [[nodiscard]] std::optional<tus::Request> next();
  void on_reply(const tus::Reply& reply);
  // What was not asked yet stays pending (for the next drain).
  void abandon();
  // The drain was stopped: abandon(), and the report says stopped.
  void stop();

 private:
  const tus::Session& session_;
  base::Database& db_;
  UploadReport& report_;
  const log::Logger& logger_;
  std::vector<collectors::WithdrawObject> pending_;
  std::size_t next_ = 0;
};

}  // namespace medgw::daemon
