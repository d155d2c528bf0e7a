#pragma once
// The object spool: builds objects, records them durably, and keeps them
// until the central has confirmed them (DESIGN.md §7 invariants 1-3, 5).
//
// - An object is recorded (row + the collector's index updates, one
//   transaction) only after its file is complete, fsynced and renamed.
// - seq is taken in that same transaction: committed objects are gap-free.
// - When spool.max_bytes or spool.min_free would be crossed, build() refuses
//   with a distinct status; nothing already spooled is ever dropped.
// - recover() at start removes temporary and never-committed files and marks
//   rows whose file is gone as lost (counted loudly: it must never happen).
#include <spool/object.hpp>
#include <spool/object_builder.hpp>
#include <spool/state_db.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/signing.hpp>

#include <base/log.hpp>
#include <base/result.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace medgw::spool {

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct SpoolLimits {
  std::uint64_t max_bytes = 20ULL << 30;
  std::uint64_t min_free = 2ULL << 30;
};

enum class Capacity { ok, spool_full, disk_low };
[[nodiscard]] std::string_view capacity_name(Capacity capacity);

struct CommittedObject {
  std::string object_id;
  std::uint64_t seq = 0;
  std::string file_name;
  std::uint64_t size = 0;
  std::string sha256;
  std::uint64_t content_bytes = 0;
  std::size_t entries = 0;
};

enum class BuildStatus {
  committed,
  spool_full,         // refused: spool.max_bytes would be exceeded
  disk_low,           // refused: free space would drop below spool.min_free
  disk_full,          // ENOSPC while writing; nothing was kept
  source_changed,     // an entry's file changed since the collector looked
  source_unreadable,  // an entry's file vanished or cannot be read
  failed,             // another error; nothing was kept
};
[[nodiscard]] std::string_view build_status_name(BuildStatus status);

struct BuildOutcome {
  BuildStatus status = BuildStatus::failed;
  std::optional<CommittedObject> object;
  std::size_t entry = 0;  // the entry at fault for source_* statuses
  std::string message;    // PHI-free
  [[nodiscard]] bool committed() const noexcept { return status == BuildStatus::committed; }
};

struct RecoveryReport {
  std::size_t temporary_files_removed = 0;
  std::size_t orphan_files_removed = 0;   // built but never committed (crash before commit)
  std::size_t objects_lost = 0;           // committed, but the file is gone or damaged
  std::size_t uploads_reset = 0;          // 'uploading' back to 'ready' (resumable)
};

struct QueuedObject {
  std::string object_id;
  std::uint64_t seq = 0;
  std::filesystem::path file;
  std::uint64_t size = 0;
  std::string sha256;
  std::vector<std::uint8_t> signature;
  std::int64_t created_ms = 0;
  std::string upload_url;
  std::uint64_t upload_offset = 0;
  int attempts = 0;
  // The central has it but its receipt did not check out: ask for the
  // receipt again (nothing is sent again unless the central lost it).
  bool unconfirmed = false;
};

struct SpoolStats {
  std::uint64_t ready_objects = 0;
  std::uint64_t ready_bytes = 0;
  std::uint64_t uploading_objects = 0;
  std::uint64_t rejected_objects = 0;
  std::uint64_t unconfirmed_objects = 0;  // receipt did not check out: kept, asked again
  std::uint64_t lost_objects = 0;  // ever
  std::uint64_t spooled_bytes = 0;  // files held: ready + uploading + unconfirmed + rejected
  std::optional<std::chrono::milliseconds> oldest_ready_age;
  std::uint64_t delivered_objects = 0;  // ever
  std::uint64_t delivered_bytes = 0;
  std::optional<std::int64_t> last_delivered_ms;
  std::uint64_t free_bytes = 0;
  Capacity capacity = Capacity::ok;
  SpoolLimits limits;
};

// Reads the spool's statistics; works on a read-only connection.
[[nodiscard]] SpoolStats read_spool_stats(base::Database& db, const std::filesystem::path& spool_dir, const SpoolLimits& limits,
                                          std::chrono::system_clock::time_point now);

struct SpoolIdentity {
  std::string facility;
  std::string gateway;
  std::vector<crypto::X25519PublicKey> recipients;
  const crypto::SigningKey* signer = nullptr;
};

class Spool {
 public:
  static constexpr std::string_view folder_name = "spool";
  static constexpr std::chrono::hours history_retention{24 * 90};

  Spool(StateDb& state, std::filesystem::path dir, SpoolLimits limits, SpoolIdentity identity, log::Logger logger,
        Clock clock);

  [[nodiscard]] RecoveryReport recover();

  // A reloaded configuration: applies to the objects built from now on.
  void set_limits(SpoolLimits limits) noexcept { limits_ = limits; }
  void set_recipients(std::vector<crypto::X25519PublicKey> recipients);

  // Whether `upcoming` more bytes would fit now. An object larger than
  // spool.max_bytes on its own fits an empty spool (disk space permitting).
  [[nodiscard]] Capacity capacity(std::uint64_t upcoming = 0);

  using Record = std::function<void(base::Database&, const CommittedObject&)>;
  // Builds an object from `entries` and records it. `record` runs inside the
  // committing transaction (the collector's index updates, invariant 1); if it
  // throws, nothing is recorded and the file is removed.
  [[nodiscard]] BuildOutcome build(std::span<const ObjectEntry> entries, const Record& record = {});

  // build() in three steps, so that the file of one object can be written on
  // another thread while the caller collects the next batch:
  // plan() and record() run on the thread that owns state.db, write() on any.
  // The next object may be planned only after this one is recorded or
  // dropped (its seq follows this one's: committed objects are gap-free).
  struct Plan {
    ObjectHeader header;
    std::string file_name;
    std::filesystem::path file;
    BuildOptions options;
    std::vector<crypto::X25519PublicKey> recipients;  // a copy: a reload may change the spool's meanwhile
    std::size_t entries = 0;
  };
  using Written = std::variant<BuiltObject, BuildFailure>;
  // The object's seq, id and file, or a refusal (spool full, disk low, no entries).
  [[nodiscard]] std::variant<Plan, BuildOutcome> plan(std::span<const ObjectEntry> entries);
  // Writes the planned object's file: complete, fsynced and renamed. Touches
  // neither state.db nor the spool.
  [[nodiscard]] static Written write(const Plan& plan, std::span<const ObjectEntry> entries);
  // Records a written object (or reports why it was not); removes the file
  // when it is not recorded.
  [[nodiscard]] BuildOutcome record(const Plan& plan, Written written, const Record& record = {});
  // A planned object that will not be recorded (its batch was given up): its file goes.
  static void drop(const Plan& plan) noexcept;

  // ---- the uploader's side ----
  // Group commit: the queue updates made while a Batch is open share its one
  // transaction. Without commit() none of them is recorded: the objects are
  // asked for or sent again (invariant 2 holds either way). One at a time;
  // the uploader opens one for each turn of its loop.
  //
  // A batch's commit is not flushed to the disk (synchronous=NORMAL: it
  // survives a crash of the process, not a power loss) unless files of
  // delivered objects wait for it: a delivered object's file is removed only
  // after a flushed commit has recorded the delivery, at the latest when
  // removals_per_flush files or bytes_per_flush bytes wait, and when the
  // drain ends (sync_deliveries). What a power loss can take back is only
  // state the central also holds - an upload's Location (a new upload is
  // made), a delivery (the object is sent again and the central drops the
  // copy by object_id) - and never a file (invariant 2).
  static constexpr std::size_t removals_per_flush = 256;
  static constexpr std::uint64_t bytes_per_flush = 64ULL << 20;
  class Batch {
   public:
    explicit Batch(Spool& spool);
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    ~Batch();
    void commit();

   private:
    Spool& spool_;
    bool flushed_;  // this commit is flushed: the waiting files go after it
    base::WriteTransaction transaction_;
  };
  // Flushes the deliveries recorded so far and removes their files (the end
  // of a drain). Throws base::SqliteError when state.db cannot be written;
  // the files then stay until a later flush, or recover() at the next start.
  void sync_deliveries();
  [[nodiscard]] std::vector<QueuedObject> due(std::size_t limit);
  void mark_uploading(std::string_view object_id, std::string_view upload_url);
  void record_offset(std::string_view object_id, std::uint64_t offset);
  // The central lost the upload (404/410): the next attempt creates a new one.
  void reset_upload(std::string_view object_id);
  void record_failure(std::string_view object_id, std::string_view error, std::chrono::system_clock::time_point retry_at);
  void mark_rejected(std::string_view object_id, std::string_view reason);
  // Moves the object to the history and removes its file.
  void mark_delivered(std::string_view object_id, std::string_view receipt_json);
  // The central's receipt did not check out (invariant 2: not confirmed):
  // the object and the receipt are kept; the receipt is asked for again at
  // `retry_at`.
  void mark_unconfirmed(std::string_view object_id, std::string_view receipt_json, std::string_view why,
                        std::chrono::system_clock::time_point retry_at);

  // ---- an operator's decisions (medgw spool release|resend SEQ) ----
  // An unconfirmed object the operator accepts as delivered (after checking
  // with the central): moved to the history with the receipt it has.
  [[nodiscard]] base::Status release(std::uint64_t seq);
  // An unconfirmed or rejected object to be sent again from scratch.
  [[nodiscard]] base::Status resend(std::uint64_t seq);
  std::size_t prune_history();

  [[nodiscard]] SpoolStats stats();
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  // The state.db connection it records in (the uploader's other records).
  [[nodiscard]] StateDb& state() noexcept { return state_; }

 private:
  [[nodiscard]] std::uint64_t spooled_bytes();
  [[nodiscard]] std::int64_t now_ms() const;

  StateDb& state_;
  std::filesystem::path dir_;
  SpoolLimits limits_;
  SpoolIdentity identity_;
  log::Logger logger_;
  Clock clock_;
  // Whether the next batch must be flushed; sets state.db's synchronous for it.
  [[nodiscard]] bool begin_batch();
  void end_batch() noexcept;
  void flushed();

  bool batching_ = false;              // a Batch is open
  std::vector<std::string> removals_;  // its delivered objects' files
  std::uint64_t removal_bytes_ = 0;
  // Files of deliveries committed without a flush: removed after one.
  std::vector<std::string> unflushed_removals_;
  std::uint64_t unflushed_bytes_ = 0;
};

}  // namespace medgw::spool
