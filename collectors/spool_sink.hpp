#pragma once
// Where every source's changes go: the patient-level policy, batching into
// spool objects, and the commit that records the source's own state in the
// transaction that records the object (DESIGN.md §7 invariant 1).
//
// A change feed (the tree walker of SS-MIX2/DPC/UKE folders today; a DICOM
// receiver or a FHIR poller tomorrow) asks the sink whether a patient's data
// may go, then hands it entries. The sink packs small entries many to an
// object (about CollectorSettings::object_target plain bytes, at most
// object_max_entries) and gives a large one an object of its own. What the
// feed must remember about the entries of a batch (an index row, a
// watermark) goes into its SinkJournal, which the sink commits with the
// object or drops with it.
#include <collectors/anomaly.hpp>
#include <collectors/policy.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <crypto/patient_tag.hpp>

#include <base/log.hpp>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::collectors {

struct PassSummary;

// What a feed must record about a batch's entries, with the object.
class SinkJournal {
 public:
  virtual ~SinkJournal() = default;
  // Inside the transaction that records the object (`object_seq`), or in one
  // of its own with `object_seq` 0 when the batch carried no entry (only
  // bookkeeping, such as a file whose stat changed but not its content).
  virtual void commit(base::Database& db, std::int64_t object_seq) = 0;
  // The batch was not sent (a streamed file changed meanwhile): forget it,
  // the next pass finds the same changes again.
  virtual void discard() = 0;
  [[nodiscard]] virtual bool empty() const = 0;

  // A batch's records, taken out of the journal to be committed later with
  // the batch's object (on the thread that owns state.db), or dropped with it.
  class Records {
   public:
    virtual ~Records() = default;
    virtual void commit(base::Database& db, std::int64_t object_seq) = 0;
  };
  // Takes what was recorded so far, so that the next batch is recorded while
  // this batch's object is written on another thread. A journal that returns
  // nullptr (the default) has its batches built one at a time.
  [[nodiscard]] virtual std::unique_ptr<Records> take() { return nullptr; }
};

// One manifest entry and what the sink counts and logs about it.
struct SinkItem {
  spool::ObjectEntry entry;
  AnomalySet anomalies = 0;
  std::string patient_id;  // for the keyed tag of an anomaly line; never logged itself
};

// The spool refused the object (full, disk low or full): the pass stops
// here; what was committed is consistent, the rest waits for the next pass.
class SinkPaused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SinkLimits {
  std::uint64_t object_target = 8ULL << 20;    // plain bytes per object
  std::size_t object_max_entries = 20'000;
  std::uint64_t in_memory_limit = 8ULL << 20;  // larger files get an object of their own, streamed
};

class SpoolSink {
 public:
  using Progress = std::function<void(const PassSummary&)>;

  SpoolSink(spool::StateDb& state, spool::Spool& spool, std::string source, SinkLimits limits,
            std::shared_ptr<const PatientPolicy> policy, SinkJournal& journal, PassSummary& summary,
            const crypto::PatientTagger& tagger, log::Logger logger, Progress progress = {});
  SpoolSink(const SpoolSink&) = delete;
  SpoolSink& operator=(const SpoolSink&) = delete;

  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] const SinkLimits& limits() const noexcept { return limits_; }
  [[nodiscard]] const PatientPolicy& policy() const noexcept { return *policy_; }
  [[nodiscard]] const std::shared_ptr<const PatientPolicy>& shared_policy() const noexcept { return policy_; }
  // Where a large file's content may be compressed as it is read (the
  // spool's folder: content_spill.hpp).
  [[nodiscard]] const std::filesystem::path& spill_folder() const noexcept { return spool_.dir(); }

  // ---- the policy: asked before anything is read, counted ----
  // True when the data must not be sent (an opted-out patient, a date before
  // policy.since): the feed neither reads nor records it, so it is new again
  // once the policy lets it through.
  [[nodiscard]] bool refuse(Exclusion exclusion);
  // The content names an opted-out patient (a file filed under another one).
  [[nodiscard]] bool refuse_content_patient(std::string_view patient_id);

  // ---- batching ----
  // Call before adding content of `size` bytes: flushes the batch when the
  // entry would not fit, and always before a large (streamed) entry.
  void make_room(std::uint64_t size);
  // Adds an entry; `content` (small files) is copied into the batch, a large
  // file is streamed from entry.file by the builder. Record the entry in the
  // journal first: add() flushes only after taking the entry (when the batch
  // is full or the entry was large), so entry and record commit together.
  // Throws SinkPaused.
  void add(SinkItem item, std::optional<std::string_view> content = std::nullopt);
  // Adds an entry streamed from entry.file without closing the object, however
  // large: a feed that sends several large files as one object (a DICOM
  // study) calls flush() before and after them. Record the entry in the
  // journal first. Throws SinkPaused (only when object_max_entries is hit).
  void add_to_object(SinkItem item);
  // Sends what the batch holds and commits the journal: on return, every
  // entry added so far is recorded (or dropped, to be found again by the next
  // pass). Throws SinkPaused.
  void flush();

  // Waits for an object being written, and removes it unless it was recorded.
  ~SpoolSink();

 private:
  struct Batch {
    std::vector<spool::ObjectEntry> entries;
    std::vector<AnomalySet> anomalies;
    std::string arena;  // contents of the in-memory entries (capacity fixed: views point into it)
    std::uint64_t content_bytes = 0;
    void clear();
  };
  // An object whose file is written on another thread while the next batch
  // is collected; recorded (with its journal records) before the next one is
  // planned, so seqs stay gap-free and commits stay in order.
  struct InFlight {
    Batch batch;
    std::unique_ptr<SinkJournal::Records> records;
    spool::Spool::Plan plan;
    std::future<spool::Spool::Written> written;
  };

  // Sends the batch; with `overlap`, its object is written while the feed
  // goes on (when the journal can set its records aside).
  void send(bool overlap);
  void finish_in_flight();
  // Counts a build's outcome for `batch`; throws SinkPaused or CollectionError.
  void settle(const Batch& batch, const spool::BuildOutcome& outcome);
  void note_anomalies(const SinkItem& item);
  void count_committed(const Batch& batch);

  spool::StateDb& state_;
  spool::Spool& spool_;
  std::string source_;
  SinkLimits limits_;
  std::shared_ptr<const PatientPolicy> policy_;
  SinkJournal& journal_;
  PassSummary& summary_;
  const crypto::PatientTagger& tagger_;
  log::Logger logger_;
  Progress progress_;
  Batch batch_;
  Batch spare_;  // the other arena, while no object is in flight
  std::unique_ptr<InFlight> in_flight_;
};

}  // namespace medgw::collectors
