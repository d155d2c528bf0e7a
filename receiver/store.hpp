#pragma once
// The receiver's durable state (receiver.db, SQLite): tus uploads (open, and
// completed ones until they expire, so HEAD can say "complete"), the objects
// received (object_id unique; (facility, seq) used once) with their signed
// receipts, and each object's landing state.
//
// Completion is decided here (claim_object): the row is inserted in state
// "storing" before any file is moved, so the unique object_id picks one
// winner; only the winner renames its bytes into the store, and only then
// (finish_object, synchronous=FULL) is the object "stored" and the upload
// complete. Every method takes the one lock; the database is reached only
// through it. Schema changes are numbered migrations (store_migrations.cpp).
#include <base/result.hpp>
#include <base/sqlite.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace medgw::receiver {

struct Upload {
  std::string id;
  std::string facility;
  std::uint64_t length = 0;
  std::uint64_t offset = 0;
  std::string metadata;  // the Upload-Metadata header as sent
  std::int64_t expires_ms = 0;
  std::string object_id;  // validated at POST (empty only in rows of schema 1)
  std::uint64_t seq = 0;
  bool completed = false;  // the object is stored (by this upload or another)
};

enum class LandingState { pending, landed, quarantined, skipped };
[[nodiscard]] std::string_view landing_state_name(LandingState state);

struct StoredObject {
  std::string object_id;
  std::string facility;
  std::uint64_t seq = 0;
  std::string sha256;
  std::string file;  // relative to the store
  std::string receipt_json;
  LandingState landing = LandingState::pending;
  std::string landing_reason;  // a stable PHI-free code when quarantined
};

struct Quarantined {
  std::uint64_t seq = 0;
  std::string reason;
  std::int64_t since_ms = 0;
};

struct FacilityReport {
  std::string facility;
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
  std::uint64_t highest_seq = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;  // missing seq ranges [from, to]
  std::uint64_t landed_through = 0;  // every seq up to this one is landed, quarantined or skipped
  std::uint64_t open_uploads = 0;
  std::vector<Quarantined> quarantined;
  std::uint64_t skipped = 0;
  std::string paused_reason;  // landing waits on the environment (disk full, ...)
  std::int64_t paused_since_ms = 0;
};

enum class Claim {
  claimed,               // this upload stores the object
  claimed_seq_conflict,  // likewise, but another object of the facility has this seq: it is quarantined
  duplicate,             // stored already: drop these bytes, the upload is complete
  busy,                  // another upload is storing it right now: ask again shortly
};

class Store {
 public:
  explicit Store(const std::filesystem::path& db_file);

  void add_upload(const Upload& upload);
  [[nodiscard]] std::vector<Upload> uploads();
  void set_offset(std::string_view id, std::uint64_t offset);
  void remove_upload(std::string_view id);
  [[nodiscard]] std::vector<std::string> expired_uploads(std::int64_t now_ms);
  // The upload is complete (its object is stored): HEAD reports offset == length.
  void complete_upload(std::string_view id);

  [[nodiscard]] std::optional<StoredObject> object(std::string_view object_id);
  // Inserts `object` in state "storing", owned by `upload_id`, unless its
  // object_id is known already. A "storing" row whose owner is not live
  // (a completion that failed or a process that died) is taken over.
  [[nodiscard]] Claim claim_object(const StoredObject& object, std::uint64_t size, std::int64_t received_ms,
                                   std::string_view upload_id, const std::function<bool(std::string_view)>& live);
  // The claimed object's file is in place: "stored", and the upload complete,
  // in one transaction committed with synchronous=FULL.
  void finish_object(std::string_view object_id, std::string_view upload_id);
  // The same for several objects in one transaction (group commit):
  // errors[i] is ENOENT where the claim was lost, 0 where stored; throws
  // base::SqliteError when the transaction fails (nothing stored) and
  // std::system_error when it was committed but could not be flushed to the
  // disk (stored, not yet durable). The flush (receiver.db-wal) is made
  // after the lock is let go: uploads created and claims made meanwhile do
  // not wait for the disk.
  struct Finish {
    std::string object_id;
    std::string upload_id;
  };
  void finish_objects(const std::vector<Finish>& finishes, std::vector<int>& errors);
  // Gives up a claim (nothing was stored).
  void release_claim(std::string_view object_id, std::string_view upload_id);
  // Rows left "storing" by a process that died: (object_id, file, owner upload).
  struct Storing {
    std::string object_id;
    std::string file;
    std::string upload_id;
  };
  [[nodiscard]] std::vector<Storing> storing_claims();

  // Landing, strictly in seq order per facility (store_landing.cpp).
  // The object after the facility's cursor when it is stored and pending;
  // skipped objects are stepped over.
  [[nodiscard]] std::optional<StoredObject> next_to_land(std::string_view facility);
  // Records the result for the object and moves the cursor past its seq
  // (once no other object of that seq is pending), unless the cursor moved
  // meanwhile (an operator's retry): then false, nothing changed.
  // `erasure_receipt`: a landed object withdrew patients; its signed
  // erasure receipt is kept with the result (the first one, when the object
  // lands again after an operator's retry).
  [[nodiscard]] bool record_landing(const StoredObject& object, LandingState state, std::string_view reason,
                                    std::int64_t now_ms, std::string_view erasure_receipt = {});
  // The erasure receipt of a landed object that withdrew patients.
  [[nodiscard]] std::optional<std::string> erasure_receipt(std::string_view object_id);
  void set_landing_paused(std::string_view facility, std::string_view reason, std::int64_t now_ms);
  // Operator commands. retry: the object (quarantined or skipped) and every
  // later landed or quarantined one land again, in seq order. skip: a
  // quarantined object is given up (it stays in the store).
  [[nodiscard]] base::Result<std::uint64_t> retry_landing(std::string_view facility, std::uint64_t seq,
                                                          std::int64_t now_ms);
  [[nodiscard]] base::Status skip_landing(std::string_view facility, std::uint64_t seq, std::int64_t now_ms);
  [[nodiscard]] std::vector<std::string> facilities_with_objects();

  [[nodiscard]] std::vector<FacilityReport> report();

 private:
  void report_landing(FacilityReport& report);
  void finish_in_transaction(const std::vector<Finish>& finishes, std::vector<int>& errors);
  std::mutex mutex_;
  base::Database db_;
  std::filesystem::path wal_file_;  // empty: not in WAL mode, every commit flushed
  std::atomic<bool> wal_folder_synced_{false};  // receiver.db-wal's entry in data_dir, once
};

}  // namespace medgw::receiver
