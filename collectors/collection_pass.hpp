#pragma once
// One collection pass over one source, the same for every source type: its
// change feed finds what changed since the last pass and hands it to the
// spool sink, which applies the patient policy, batches the changes into
// objects and records the feed's state in the transaction that records each
// object (invariant 1). The pass records its outcome for status.
//
// A folder tree (SS-MIX2, DPC, UKE) is read by a TreeFeed (tree_feed.hpp):
// walk + file index + settle. A source that is pushed to us or polled over
// the network brings a feed of its own.
//
// When the spool refuses (full, or low disk) the pass stops; the next pass
// starts again from what was committed.
#include <collectors/anomaly.hpp>
#include <collectors/source_profile.hpp>
#include <collectors/spool_sink.hpp>
#include <collectors/tree_walker.hpp>

#include <spool/spool.hpp>
#include <spool/state_db.hpp>

#include <crypto/patient_tag.hpp>

#include <base/log.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace medgw::collectors {

struct CollectorSettings {
  std::string source;  // name in the index and the manifests
  // A folder tree's (TreeFeed): its root and how long a file must rest.
  std::filesystem::path root;
  std::chrono::milliseconds settle{0};
  std::uint64_t object_target = 8ULL << 20;      // plain bytes per object
  std::size_t object_max_entries = 20'000;
  std::uint64_t in_memory_limit = 8ULL << 20;    // larger files get an object of their own, streamed
  // Send deletions even when most of the source vanished at once or its
  // folder is empty (the operator checked it is not an unmounted share).
  bool accept_mass_deletion = false;
  // The folder is medgw's own staging area (what a FHIR source downloaded):
  // a file gone from it was cleaned up after it was sent, so it is forgotten,
  // never sent as a deletion nor taken for a rename, and an empty folder is
  // no unmounted share.
  bool forget_gone = false;
  // The opt-out list and collection window in force for this pass.
  std::shared_ptr<const PatientPolicy> policy = std::make_shared<const PatientPolicy>();

  [[nodiscard]] SinkLimits limits() const { return {object_target, object_max_entries, in_memory_limit}; }
};

struct PassSummary {
  std::string source;
  std::uint64_t files_seen = 0;
  std::uint64_t unchanged = 0;
  std::uint64_t added = 0;
  std::uint64_t modified = 0;
  std::uint64_t renamed = 0;
  std::uint64_t deleted = 0;
  std::uint64_t metadata_only = 0;  // stat changed, content did not
  std::uint64_t waiting = 0;        // not settled yet: next pass
  std::uint64_t deletes_deferred = 0;
  std::uint64_t unreadable = 0;     // could not be read (permissions, vanished meanwhile)
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;
  std::uint64_t content_bytes = 0;
  std::array<std::uint64_t, anomaly_count> anomalies{};  // files sent in this pass with each kind
  // Patient-level policy (counts only, never whom).
  std::uint64_t excluded_optout = 0;   // files not sent: an opted-out patient's
  std::uint64_t excluded_since = 0;    // files not sent: dated before policy.since
  std::uint64_t rows_removed = 0;      // DPC rows of opted-out patients left out of the copies sent
  std::uint64_t receipts_removed = 0;  // UKE receipts of opted-out patients left out
  std::uint64_t held = 0;              // files kept back: receipts whose patient cannot be identified
  std::uint64_t unidentified = 0;      // such receipts (held, or sent under policy.unidentified: send)
  std::uint64_t held_notice = 0;       // files held: their patient's notice period has not passed
  std::uint64_t rows_held_notice = 0;  // DPC rows and UKE receipts left out for the same reason
  std::uint64_t late_rows_files = 0;   // "late rows" copies sent: rows held earlier, their patients now eligible
  WalkCounters walk;
  bool paused = false;  // the spool refused: the rest waits for the next pass
  std::string pause_reason;
  bool deletes_withheld = false;  // most of the source vanished at once: not believed
  std::chrono::milliseconds duration{};
  std::chrono::milliseconds scan_duration{};  // of which the walk and the merge with the index

  [[nodiscard]] std::uint64_t anomalous_files() const;
  [[nodiscard]] std::string to_json() const;  // counts only, no paths
  // For people: "N files seen: ... ; K objects, X MiB", then one line per
  // detail worth showing (anomaly kinds, skipped entries); counts only.
  [[nodiscard]] std::string to_text() const;
};

class CollectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a source finds its changes.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Hands what changed since the last pass to `sink` (which commits the
  // feed's journal with each object) and counts into `summary`. Throws
  // CollectionError when the source cannot be read at all (nothing is
  // changed then), SinkPaused when the spool refused.
  virtual void collect(SpoolSink& sink, PassSummary& summary) = 0;
  // What the sink commits with each object: the feed's record of what it sent.
  [[nodiscard]] virtual SinkJournal& journal() = 0;
};

class CollectionPass {
 public:
  using Progress = std::function<void(const PassSummary&)>;

  // A pass of `feed` (settings: source name, object sizes, policy).
  CollectionPass(spool::StateDb& state, spool::Spool& spool, ChangeFeed& feed, CollectorSettings settings,
                 const crypto::PatientTagger& tagger, log::Logger logger, spool::Clock clock, Progress progress = {});
  // A pass over the folder tree settings.root read with `profile` (a TreeFeed).
  CollectionPass(spool::StateDb& state, spool::Spool& spool, const SourceProfile& profile, CollectorSettings settings,
                 const crypto::PatientTagger& tagger, log::Logger logger, spool::Clock clock, Progress progress = {});
  ~CollectionPass();
  CollectionPass(const CollectionPass&) = delete;
  CollectionPass& operator=(const CollectionPass&) = delete;

  // Throws CollectionError when the source cannot be read at all (missing
  // root, or an empty root where files were indexed: an unmounted share);
  // the failure is recorded for status all the same.
  PassSummary run();

 private:
  void record(std::string_view outcome, std::string_view line);

  spool::StateDb& state_;
  spool::Spool& spool_;
  std::unique_ptr<ChangeFeed> owned_feed_;
  ChangeFeed& feed_;
  CollectorSettings settings_;
  const crypto::PatientTagger& tagger_;
  log::Logger logger_;
  spool::Clock clock_;
  Progress progress_;
  PassSummary summary_;
};

}  // namespace medgw::collectors
