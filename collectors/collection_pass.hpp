#pragma once
// One collection pass over one source, the same for every source type:
//
// 1. scan: walk the tree in path order and merge-join it with the file index;
//    paths that are new, changed or gone go to the pass's scan tables (in
//    state.db: they name patients, so never in temporary files elsewhere);
// 2. changes, in path order: a new path whose inode, size and mtime are those
//    of a gone one is a rename (nothing read, nothing sent again); otherwise a
//    file is read only once it has settled (unchanged for `settle` and still
//    the same after reading), hashed, matched against gone content by SHA-256
//    (a copy under a new name is a rename too), analysed by the source's
//    profile and batched;
// 3. what is still gone is deleted, unless a file still settling could be its
//    new name;
// 4. each batch becomes one spool object, and the index rows of its entries
//    are written in the transaction that records the object (invariant 1).
//
// When the spool refuses (full, or low disk) the pass stops; the next pass
// starts again from the index, which holds only what was committed.
#include <collectors/anomaly.hpp>
#include <collectors/source_profile.hpp>
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
  std::filesystem::path root;
  std::chrono::milliseconds settle{0};
  std::uint64_t object_target = 8ULL << 20;      // plain bytes per object
  std::size_t object_max_entries = 20'000;
  std::uint64_t in_memory_limit = 8ULL << 20;    // larger files get an object of their own, streamed
  // Send deletions even when most of the source vanished at once or its
  // folder is empty (the operator checked it is not an unmounted share).
  bool accept_mass_deletion = false;
  // The opt-out list and collection window in force for this pass.
  std::shared_ptr<const PatientPolicy> policy = std::make_shared<const PatientPolicy>();
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

// A file the scan found new or changed, as the changes phase takes it.
struct ScanRow {
  std::string path;
  FileStat stat;
  bool modified = false;  // a known path whose stat changed
};

class CollectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CollectionPass {
 public:
  using Progress = std::function<void(const PassSummary&)>;

  CollectionPass(spool::StateDb& state, spool::Spool& spool, const SourceProfile& profile, CollectorSettings settings,
                 const crypto::PatientTagger& tagger, log::Logger logger, spool::Clock clock, Progress progress = {});

  // Throws CollectionError when the source cannot be scanned at all (missing
  // root, or an empty root where files were indexed: an unmounted share);
  // the failure is recorded for status all the same.
  PassSummary run();

 private:
  struct Batch;
  using PageSource = std::function<std::vector<ScanRow>()>;  // an empty page: no more
  void scan();
  // The first pass of a source (nothing indexed: nothing can be renamed or
  // gone) walks and processes at once, the walk on its own thread.
  void scan_and_process_first();
  void process_changes(PageSource next_page = {});
  void process_gone();
  void flush(Batch& batch);
  bool settled(std::int64_t mtime_ns, std::int64_t ctime_ns) const;
  void note_anomalies(const Analysis& analysis, std::string_view action);
  void record(std::string_view outcome, std::string_view line);

  spool::StateDb& state_;
  spool::Spool& spool_;
  const SourceProfile& profile_;
  CollectorSettings settings_;
  const crypto::PatientTagger& tagger_;
  log::Logger logger_;
  spool::Clock clock_;
  Progress progress_;
  PassSummary summary_;
  std::int64_t now_ns_ = 0;
  std::vector<std::uint64_t> waiting_sizes_;
  std::uint64_t gone_left_ = 0;  // scan_gone rows not yet matched as a rename source
};

}  // namespace medgw::collectors
