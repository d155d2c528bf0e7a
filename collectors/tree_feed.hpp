#pragma once
// The change feed of a folder tree (SS-MIX2 storage, DPC and UKE exports):
//
// 1. scan: walk the tree in path order and merge-join it with the file index;
//    paths that are new, changed or gone go to the pass's scan tables (in
//    state.db: they name patients, so never in temporary files elsewhere);
// 2. changes, in path order: a new path whose inode, size and mtime are those
//    of a gone one is a rename (nothing read, nothing sent again); otherwise a
//    file is read only once it has settled (unchanged for `settle` and still
//    the same after reading), hashed, matched against gone content by SHA-256
//    (a copy under a new name is a rename too), analysed by the source's
//    profile and handed to the sink;
// 3. what is still gone is deleted, unless a file still settling could be its
//    new name.
// Its journal is the file index: the rows of a batch's files are written in
// the transaction that records the object (invariant 1), so the next pass
// redoes exactly what was not committed.
#include <collectors/collection_pass.hpp>
#include <collectors/file_index_journal.hpp>
#include <collectors/source_profile.hpp>
#include <collectors/tree_walker.hpp>

#include <spool/state_db.hpp>

#include <base/log.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medgw::collectors {

// Threads that walk the root's folders beside the one that reports them
// (TreeWalker::walk): the walk is mostly the kernel's work, one system call
// per folder and file, and a re-scan is nothing else.
inline constexpr std::size_t walk_helpers = 2;

// A file the scan found new or changed, as the changes phase takes it.
struct ScanRow {
  std::string path;
  FileStat stat;
  bool modified = false;  // a known path whose stat changed
  // A first collection: what the walk did with the file while it held it
  // open (a PreparedRead, file_read.hpp), or null.
  std::shared_ptr<FileWork> work;
};

class TreeFeed final : public ChangeFeed {
 public:
  using Progress = std::function<void(const PassSummary&)>;

  TreeFeed(spool::StateDb& state, const SourceProfile& profile, CollectorSettings settings, log::Logger logger,
           spool::Clock clock, Progress progress = {});
  TreeFeed(const TreeFeed&) = delete;
  TreeFeed& operator=(const TreeFeed&) = delete;

  void collect(SpoolSink& sink, PassSummary& summary) override;
  [[nodiscard]] SinkJournal& journal() override;

 private:
  class Changes;  // tree_feed_changes.cpp
  using PageSource = std::function<std::vector<ScanRow>()>;  // an empty page: no more
  void clear_scan_tables();
  void scan();
  void judge_vanished(std::uint64_t index_rows, std::uint64_t gone);
  // The first pass of a source (nothing indexed: nothing can be renamed or
  // gone) walks and processes at once, the walk on its own thread.
  void scan_and_process_first(SpoolSink& sink);
  void process_changes(SpoolSink& sink, PageSource next_page = {});
  void process_gone(SpoolSink& sink);
  [[nodiscard]] bool settled(std::int64_t mtime_ns, std::int64_t ctime_ns) const;

  spool::StateDb& state_;
  const SourceProfile& profile_;
  CollectorSettings settings_;
  log::Logger logger_;
  spool::Clock clock_;
  Progress progress_;
  PassSummary* summary_ = nullptr;  // of the pass in progress
  FileIndexJournal journal_{settings_.source, summary_};
  std::int64_t now_ns_ = 0;
  std::vector<std::uint64_t> waiting_sizes_;
  std::uint64_t gone_left_ = 0;  // scan_gone rows not yet matched as a rename source
};

}  // namespace medgw::collectors
