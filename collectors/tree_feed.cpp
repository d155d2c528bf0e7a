// The tree feed: set-up and the scan phase (walk merged with the file index).
#include <collectors/tree_feed.hpp>

#include <base/sqlite.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <system_error>

#include <sys/stat.h>

namespace medgw::collectors {
namespace {

constexpr std::size_t commit_every = 20'000;
constexpr std::uint64_t mass_vanish_minimum = 100;

std::string_view view_of(const std::vector<std::uint8_t>& blob) {
  return {reinterpret_cast<const char*>(blob.data()), blob.size()};
}

// The scan's writes, committed every `commit_every` rows; a long unchanged
// walk, which writes nothing, still commits every 500 ms so the uploader
// (another connection) can write in between.
class BatchedWrites {
 public:
  explicit BatchedWrites(base::Database& db) : db_(db) { transaction_.emplace(db_); }
  void wrote() {
    if (++pending_ >= commit_every) renew(std::chrono::steady_clock::now());
  }
  void yield_now_and_then(std::uint64_t files_seen) {
    if (files_seen % 1024 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - opened_ >= std::chrono::milliseconds(500)) renew(now);
  }
  void commit() {
    transaction_->commit();
    transaction_.reset();
  }

 private:
  void renew(std::chrono::steady_clock::time_point now) {
    transaction_->commit();
    transaction_.emplace(db_);
    pending_ = 0;
    opened_ = now;
  }
  base::Database& db_;
  std::optional<base::WriteTransaction> transaction_;
  std::size_t pending_ = 0;
  std::chrono::steady_clock::time_point opened_ = std::chrono::steady_clock::now();
};

}  // namespace

TreeFeed::TreeFeed(spool::StateDb& state, const SourceProfile& profile, CollectorSettings settings, log::Logger logger,
                   spool::Clock clock, Progress progress)
    : state_(state),
      profile_(profile),
      settings_(std::move(settings)),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : spool::Clock([] { return std::chrono::system_clock::now(); })),
      progress_(std::move(progress)) {}

SinkJournal& TreeFeed::journal() { return journal_; }

bool TreeFeed::settled(std::int64_t mtime_ns, std::int64_t ctime_ns) const {
  const std::int64_t changed = std::max(mtime_ns, ctime_ns);
  return now_ns_ - changed >= std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.settle).count();
}

void TreeFeed::clear_scan_tables() {
  base::Database& db = state_.db();
  base::WriteTransaction transaction(db);
  db.prepare("DELETE FROM scan_new WHERE source = ?1").bind_all(settings_.source).run();
  db.prepare("DELETE FROM scan_gone WHERE source = ?1").bind_all(settings_.source).run();
  transaction.commit();
}

void TreeFeed::collect(SpoolSink& sink, PassSummary& summary) {
  const auto started = std::chrono::steady_clock::now();
  summary_ = &summary;
  waiting_sizes_.clear();
  gone_left_ = 0;
  now_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_().time_since_epoch()).count();
  clear_scan_tables();
  bool indexed = false;
  {
    base::Statement any = state_.db().prepare("SELECT 1 FROM file_index WHERE source = ?1 LIMIT 1");
    any.bind_all(settings_.source);
    indexed = any.step();
  }
  try {
    if (indexed) {
      scan();
      summary.scan_duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      process_changes(sink);
      process_gone(sink);
    } else {
      scan_and_process_first(sink);
    }
    sink.flush();
  } catch (const SinkPaused&) {
    clear_scan_tables();
    throw;
  } catch (const std::system_error& error) {
    throw CollectionError("source " + settings_.source + ": cannot read " + settings_.root.string() + ": " +
                          error.code().message());
  }
  clear_scan_tables();
}

void TreeFeed::scan() {
  base::Database& db = state_.db();
  std::error_code ec;
  if (!std::filesystem::is_directory(settings_.root, ec)) {
    throw CollectionError("source " + settings_.source + ": " + settings_.root.string() +
                          " is not a folder (is the share mounted?)");
  }
  std::uint64_t index_rows = 0;
  {
    base::Statement count = db.prepare("SELECT count(*) FROM file_index WHERE source = ?1");
    count.bind_all(settings_.source);
    if (count.step()) index_rows = static_cast<std::uint64_t>(count.column_int64(0));
  }

  base::Statement cursor =
      db.prepare("SELECT path, size, mtime_ns, ctime_ns, inode FROM file_index WHERE source = ?1 ORDER BY path");
  cursor.bind_all(settings_.source);
  base::Statement insert_new = db.prepare(
      "INSERT INTO scan_new (source, path, size, mtime_ns, ctime_ns, device, inode, modified) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  base::Statement insert_gone = db.prepare(
      "INSERT INTO scan_gone (source, path, size, mtime_ns, device, inode, sha256) "
      "SELECT source, path, size, mtime_ns, device, inode, sha256 FROM file_index WHERE source = ?1 AND path = ?2");

  BatchedWrites writes(db);

  bool cursor_valid = cursor.step();
  std::string cursor_path;
  if (cursor_valid) cursor_path = std::string(view_of(cursor.column_blob(0)));
  std::vector<std::string> unreadable_prefixes;
  std::uint64_t gone = 0;
  auto protected_path = [&](std::string_view path) {
    for (const std::string& prefix : unreadable_prefixes) {
      if (path.starts_with(prefix)) return true;
    }
    return false;
  };
  auto advance = [&] {
    cursor_valid = cursor.step();
    if (cursor_valid) cursor_path = std::string(view_of(cursor.column_blob(0)));
  };
  // Index rows before `limit` (all, when empty) are paths the walk did not see.
  auto consume_gone_until = [&](std::optional<std::string_view> limit) {
    while (cursor_valid && (!limit || std::string_view(cursor_path) < *limit)) {
      if (protected_path(cursor_path)) {
        ++summary_->unchanged;  // under a folder we could not read: unknown, not gone
      } else {
        insert_gone.bind_all(settings_.source, std::span<const std::uint8_t>(
                                                   reinterpret_cast<const std::uint8_t*>(cursor_path.data()), cursor_path.size()));
        insert_gone.run();
        insert_gone.reset();
        ++gone;
        writes.wrote();
      }
      advance();
    }
  };

  TreeWalker walker;
  summary_->walk = walker.walk(
      settings_.root,
      [&](std::string_view path, const FileStat& stat) {
        ++summary_->files_seen;
        consume_gone_until(path);
        bool modified = false;
        if (cursor_valid && std::string_view(cursor_path) == path) {
          const bool same = cursor.column_int64(1) == static_cast<std::int64_t>(stat.size) &&
                            cursor.column_int64(2) == stat.mtime_ns && cursor.column_int64(3) == stat.ctime_ns &&
                            cursor.column_int64(4) == static_cast<std::int64_t>(stat.inode);
          advance();
          if (same) {
            ++summary_->unchanged;
            writes.yield_now_and_then(summary_->files_seen);
            if (progress_ && summary_->files_seen % 4096 == 0) progress_(*summary_);
            return;
          }
          modified = true;
        }
        insert_new.bind_all(settings_.source,
                            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(path.data()), path.size()),
                            stat.size, stat.mtime_ns, stat.ctime_ns, stat.device, stat.inode, modified ? 1 : 0);
        insert_new.run();
        insert_new.reset();
        writes.wrote();
        if (progress_ && summary_->files_seen % 4096 == 0) progress_(*summary_);
      },
      [&](WalkProblem problem, std::string_view path) {
        if (problem == WalkProblem::unreadable_directory) unreadable_prefixes.push_back(std::string(path) + "/");
        if (problem == WalkProblem::unreadable_directory || problem == WalkProblem::unreadable_file) {
          logger_.warn("collect.unreadable", "cannot read part of the source; it is skipped and counted",
                       {{"source", settings_.source}, {"what", walk_problem_name(problem)}});
        }
      },
      walk_helpers);
  consume_gone_until(std::nullopt);
  writes.commit();
  gone_left_ = settings_.forget_gone ? 0 : gone;  // 0: nothing is matched as a rename
  judge_vanished(index_rows, gone);
}

// An empty root where files were indexed is an unmounted share until the
// operator says otherwise; more than half of the files gone at once too.
void TreeFeed::judge_vanished(std::uint64_t index_rows, std::uint64_t gone) {
  if (settings_.forget_gone) return;
  if (summary_->files_seen == 0 && index_rows > 0 && !settings_.accept_mass_deletion) {
    throw CollectionError("source " + settings_.source + ": " + settings_.root.string() + " is empty but " +
                          std::to_string(index_rows) +
                          " files were collected from it before; is the share mounted? Nothing was changed. If "
                          "the files were really removed, run: medgw collect --once --accept-deletions");
  }
  if (gone >= mass_vanish_minimum && gone * 2 > index_rows && !settings_.accept_mass_deletion) {
    summary_->deletes_withheld = true;
    logger_.error("collect.mass_vanish",
                  "more than half of the source's files vanished at once; their deletions are withheld until "
                  "confirmed: check the share, then run medgw collect --once --accept-deletions",
                  {{"source", settings_.source}, {"vanished", gone}, {"indexed", index_rows}});
  }
}

}  // namespace medgw::collectors
