#pragma once
// Markers in a folder repository's locks/ that keep a backup run and
// retention (`medgw backup forget`) apart: a run reuses old packs through
// the blobs backup.db knows, so no pack may go while a run is writing a
// snapshot. The markers hold no data (kind, host, process, time); they are
// the only files the gateway ever removes from the repository's folder.
//
//   locks/run-<random>      a backup run (its mtime renewed while it works)
//   locks/forget-<random>   retention
//
// Taking a lock writes the marker first, then looks at the others: a fresh
// marker of the other kind (or another forget) makes the taker withdraw its
// own and fail with repository_busy, so two takers at the same instant both
// back off, never both go on. A marker not renewed for `stale_after` is a
// process that died: it is ignored (and a run removes the run markers of its
// gateway's earlier, interrupted runs: one gateway writes a repository, and
// its local lock already keeps its runs one at a time).
#include <backupstore/repository.hpp>

#include <base/result.hpp>

#include <chrono>
#include <filesystem>

namespace medgw::backup {

class RepositoryLock {
 public:
  enum class Kind { run, forget };
  static constexpr std::chrono::seconds default_stale_after{3600};

  // `suffix` (lower-case hex) names the marker <kind>-<suffix>: a remote
  // run's lease, named by its gateway (default: random).
  [[nodiscard]] static base::Result<RepositoryLock> take(const FolderRepository& repository, Kind kind,
                                                         std::chrono::seconds stale_after = default_stale_after,
                                                         std::string_view suffix = {});

  RepositoryLock(RepositoryLock&& other) noexcept;
  RepositoryLock& operator=(RepositoryLock&& other) noexcept;
  RepositoryLock(const RepositoryLock&) = delete;
  RepositoryLock& operator=(const RepositoryLock&) = delete;
  ~RepositoryLock();

  // Renews the marker's mtime (a run calls this as it works; at most once a
  // minute does anything).
  void refresh();
  // Leaves the marker in place when this object goes (the central holds a
  // remote run's lease between its requests: renewed by the gateway's PUTs,
  // given back by its DELETE, stale if it never comes).
  void keep() noexcept { marker_.clear(); }

 private:
  explicit RepositoryLock(std::filesystem::path marker) : marker_(std::move(marker)) {}
  std::filesystem::path marker_;
  std::chrono::steady_clock::time_point refreshed_ = std::chrono::steady_clock::now();
};

}  // namespace medgw::backup
