#pragma once
// Retention (`medgw backup forget --keep-daily N --keep-monthly N`): runs
// where the repository is, with its clear parts only - the signed pack lists
// - and no key: it cannot read a snapshot, and needs not.
//
// Kept: for each of the last N days that have snapshots, the newest snapshot
// of that day (UTC, from the pack list's time); the same for the last N
// months; a snapshot kept by either rule stays. A snapshot whose pack list
// cannot be read or checked is always kept (and named). Forgotten: the other
// snapshots (their .age first - from then on they are not listed - then
// their pack lists), the pack lists of interrupted runs older than the newest
// snapshot, and every pack that no kept snapshot (nor a later interrupted
// run's pack list) names. It holds the repository's lock (repository_lock.hpp)
// throughout, so no run is writing meanwhile; the gateway finds a removed
// pack at its next run and stores again what it held.
#include <backupstore/repository.hpp>
#include <backupstore/pack_list.hpp>

#include <base/result.hpp>

#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace medgw::backup {

struct ForgetPolicy {
  unsigned keep_daily = 0;
  unsigned keep_monthly = 0;
  bool dry_run = false;
};

struct ForgetReport {
  std::vector<std::string> kept;       // snapshot ids, oldest first
  std::vector<std::string> forgotten;  // snapshot ids, oldest first
  std::uint64_t unreadable_kept = 0;   // snapshots kept because their pack list is bad
  std::uint64_t pack_lists_removed = 0;  // of interrupted runs
  std::uint64_t packs_removed = 0;
  std::uint64_t bytes_freed = 0;
};

// The visible snapshots the policy keeps (ids); one whose pack list has a
// problem is always kept. `summaries` oldest first, as summarize() gives.
[[nodiscard]] std::set<std::string> snapshots_to_keep(const std::vector<SnapshotSummary>& summaries,
                                                      const ForgetPolicy& policy);

// `note` gets one line per decision worth telling (never patient data: the
// clear parts hold none).
[[nodiscard]] base::Result<ForgetReport> forget_snapshots(const FolderRepository& repository,
                                                          const ForgetPolicy& policy,
                                                          const std::function<void(const std::string&)>& note);

// `backup forget`'s report: FORGOT/KEPT lines and a summary (medgw and
// medgw-receiver).
void print_forget_report(std::ostream& out, const ForgetReport& report, bool dry_run);

}  // namespace medgw::backup
