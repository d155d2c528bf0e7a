#include <backupstore/forget.hpp>

#include <backupstore/repository_lock.hpp>

#include <base/human_size.hpp>
#include <base/private_file.hpp>

#include <set>

namespace medgw::backup {
namespace {

// The newest snapshot of each of the last `count` periods (a period is the
// first `width` characters of the RFC 3339 time: 10 a day, 7 a month).
void keep_newest_per_period(const std::vector<const SnapshotSummary*>& newest_first, unsigned count,
                            std::size_t width, std::set<std::string>& keep) {
  std::string last;
  unsigned kept = 0;
  for (const SnapshotSummary* summary : newest_first) {
    if (kept >= count) return;
    const std::string period = summary->list.created.substr(0, width);
    if (period == last) continue;
    last = period;
    keep.insert(summary->id);
    ++kept;
  }
}

class Forgetter {
 public:
  Forgetter(const FolderRepository& repository, const ForgetPolicy& policy,
            const std::function<void(const std::string&)>& note)
      : repository_(repository), policy_(policy), note_(note) {}

  base::Result<ForgetReport> run() {
    auto summaries = summarize(repository_);
    if (!summaries) return base::fail(summaries.error());
    choose(*summaries);
    bool packs_known = true;  // every kept snapshot's packs are known
    std::string newest_visible;
    for (const SnapshotSummary& summary : *summaries) {
      if (summary.visible) newest_visible = summary.id;
    }
    for (const SnapshotSummary& summary : *summaries) {
      if (summary.visible && !keep_.contains(summary.id)) {
        forget(summary.id);
      } else if (!summary.visible && summary.id < newest_visible) {
        // An interrupted run older than the newest snapshot: over.
        ++report_.pack_lists_removed;
        remove(repository_.pack_list_file(summary.id));
      } else if (summary.problem.empty()) {
        for (const PackListEntry& pack : summary.list.packs) needed_.insert(pack.name);
      } else {
        packs_known = false;
      }
    }
    if (!policy_.dry_run) base::sync_directory(repository_.root() / "snapshots");
    if (packs_known) {
      remove_unneeded_packs();
    } else {
      note_("packs: none removed: a kept snapshot's pack list cannot be read, so what it needs is unknown");
    }
    return report_;
  }

 private:
  void choose(const std::vector<SnapshotSummary>& summaries) {
    keep_ = snapshots_to_keep(summaries, policy_);
    for (const SnapshotSummary& summary : summaries) {
      if (summary.visible && !summary.problem.empty()) {
        ++report_.unreadable_kept;
        note_("snapshot " + summary.id + ": kept: " + summary.problem);
      }
    }
    for (const SnapshotSummary& summary : summaries) {
      if (!summary.visible) continue;
      (keep_.contains(summary.id) ? report_.kept : report_.forgotten).push_back(summary.id);
    }
  }

  void forget(const std::string& id) {
    // The snapshot file first: from then on it is not listed; its pack list
    // alone is an interrupted run's, removed by the next forget at the latest.
    remove(repository_.snapshot_file(id));
    remove(repository_.pack_list_file(id));
  }

  void remove(const std::filesystem::path& file) {
    if (policy_.dry_run) return;
    std::error_code ec;
    std::filesystem::remove(file, ec);
    if (ec) throw std::system_error(ec, "cannot remove " + file.string());
  }

  void remove_unneeded_packs() {
    std::error_code ec;
    for (const auto& shard : std::filesystem::directory_iterator(repository_.root() / "packs", ec)) {
      if (!shard.is_directory()) continue;
      bool removed = false;
      for (const auto& entry : std::filesystem::directory_iterator(shard.path(), ec)) {
        const std::string name = entry.path().filename().string();
        if (needed_.contains(name) || !entry.is_regular_file()) continue;
        std::error_code stat_error;
        report_.bytes_freed += entry.file_size(stat_error);
        ++report_.packs_removed;
        remove(entry.path());
        removed = true;
      }
      if (removed && !policy_.dry_run) base::sync_directory(shard.path());
    }
  }

  const FolderRepository& repository_;
  const ForgetPolicy& policy_;
  const std::function<void(const std::string&)>& note_;
  ForgetReport report_;
  std::set<std::string> keep_;
  std::set<std::string> needed_;
};

}  // namespace

std::set<std::string> snapshots_to_keep(const std::vector<SnapshotSummary>& summaries, const ForgetPolicy& policy) {
  std::set<std::string> keep;
  std::vector<const SnapshotSummary*> newest_first;
  for (auto it = summaries.rbegin(); it != summaries.rend(); ++it) {
    if (!it->visible) continue;
    if (!it->problem.empty()) keep.insert(it->id);
    else newest_first.push_back(&*it);
  }
  keep_newest_per_period(newest_first, policy.keep_daily, 10, keep);
  keep_newest_per_period(newest_first, policy.keep_monthly, 7, keep);
  return keep;
}

base::Result<ForgetReport> forget_snapshots(const FolderRepository& repository, const ForgetPolicy& policy,
                                            const std::function<void(const std::string&)>& note) {
  if (policy.keep_daily == 0 && policy.keep_monthly == 0) {
    return base::fail("usage", "give --keep-daily N and/or --keep-monthly N (at least one above 0): forget never "
                               "removes every snapshot");
  }
  auto lock = RepositoryLock::take(repository, RepositoryLock::Kind::forget);
  if (!lock) return base::fail(lock.error());
  try {
    Forgetter forgetter(repository, policy, note);
    return forgetter.run();
  } catch (const std::system_error& failure) {
    return base::fail(repository_error(failure, "retention"));
  }
}

void print_forget_report(std::ostream& out, const ForgetReport& report, bool dry_run) {
  const char* verb = dry_run ? "would forget" : "forgot";
  for (const std::string& id : report.forgotten) out << (dry_run ? "WOULD FORGET " : "FORGOT ") << id << "\n";
  for (const std::string& id : report.kept) out << "KEPT " << id << "\n";
  out << (dry_run ? "dry run: " : "") << verb << " " << report.forgotten.size() << " snapshot(s), kept "
      << report.kept.size() << "; " << (dry_run ? "would remove " : "removed ") << report.packs_removed
      << " pack(s) (" << base::human_size(report.bytes_freed) << ") and " << report.pack_lists_removed
      << " pack list(s) of interrupted runs\n";
}

}  // namespace medgw::backup
