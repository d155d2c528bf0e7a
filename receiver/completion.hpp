#pragma once
// The last byte of an upload: verify, then store the object in one atomic
// step per object (issue 14, finding 3). Runs on the blocking pool.
//
//   1. SHA-256 and the gateway's signature must match the metadata
//      (validated again: facility from the certificate, object_id a
//      canonical UUID, seq in range).
//   2. Store::claim_object inserts the row in state "storing": the unique
//      object_id decides the winner BEFORE any file is moved.
//   3. Only the winner renames its own file to store/<facility>/<seq>-<id>.age,
//      fsyncs it and the folders and marks the object stored and its upload
//      complete (synchronous=FULL) - then, and only then, the client hears
//      204. Objects finishing together share these (group commit,
//      sync_group.hpp): one round of fsyncs - each object's file and each
//      folder once - then one transaction for all of them. A stop before
//      the transaction leaves a "storing" row (undone at start-up) or none;
//      bytes the stop cut off fail the SHA-256 when the upload completes
//      again, so the client sends the object again (410).
//   4. A loser (the object is stored already) drops its own bytes and its
//      upload is complete too; if the winner is still at step 3 the loser is
//      told to ask again (503) and keeps its bytes.
// Any failure in step 3 is undone (the file goes back, the claim is
// released): the upload stays resumable, never answering 500 until it
// expires.
#include <receiver/object_claim.hpp>
#include <receiver/receiver_config.hpp>
#include <receiver/store.hpp>
#include <receiver/sync_group.hpp>

#include <crypto/signing.hpp>

#include <base/log.hpp>

#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace medgw::receiver {

enum class Completed {
  stored,     // 204
  duplicate,  // 204: stored by an earlier or concurrent upload; these bytes dropped
  busy,       // 503, Retry-After: another upload is storing the same object
  restart,    // 410: the bytes are not what the metadata says; send the object again
  refused,    // 400: not an object of this facility's gateways
  failed,     // 503: the receiver could not store it now (disk, database); the upload stays
};

struct CompletionResult {
  CompletionResult(Completed outcome_ = Completed::failed, std::string message_ = {}, std::string receipt_ = {})
      : outcome(outcome_), message(std::move(message_)), receipt(std::move(receipt_)) {}
  Completed outcome;
  std::string message;  // PHI-free
  std::string receipt;  // stored: the signed receipt, sent with the 204 (Medgw-Receipt)
};

class Completer {
 public:
  Completer(const ReceiverConfig& config, Store& store, const crypto::SigningKey& receipt_key,
            GatewaySignatures& signatures, log::Logger logger);

  // `computed_sha256`: the digest of the bytes as they arrived, when all went
  // through this process; empty: the file is hashed.
  [[nodiscard]] CompletionResult complete(const Upload& upload, const FacilityEntry& facility,
                                          const std::string& computed_sha256);

  // At start-up, before serving: undoes completions a crash cut off (rows
  // still "storing"), drops uploads whose file is gone and files no upload
  // owns.
  void recover();

  // Removes an upload's file and row (refused, expired, terminated).
  void forget(const std::string& upload_id);

 private:
  [[nodiscard]] CompletionResult store_claimed(const Upload& upload, const StoredObject& object,
                                               const std::filesystem::path& partial);
  [[nodiscard]] bool completing(std::string_view upload_id);
  [[nodiscard]] std::string receipt_json(const StoredObject& object, const std::string& received_at) const;

  const ReceiverConfig& config_;
  Store& store_;
  const crypto::SigningKey& receipt_key_;
  GatewaySignatures& signatures_;
  log::Logger logger_;
  std::mutex completing_mutex_;
  std::set<std::string, std::less<>> completing_;  // uploads inside complete() now
  GroupCommit<std::filesystem::path> syncs_;  // the stored file and folders
  GroupCommit<Store::Finish> finishes_;
};

}  // namespace medgw::receiver
