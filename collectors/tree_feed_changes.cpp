// The tree feed: deciding what each new, changed or gone file is, having it
// read and analysed (file_read.hpp), and handing it to the sink.
#include <collectors/tree_feed.hpp>

#include <collectors/file_read.hpp>

#include <base/hex.hpp>
#include <base/unique_fd.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <iterator>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::collectors {
namespace {

constexpr std::size_t page_size = 512;

using Blob = std::span<const std::uint8_t>;

Blob blob(std::string_view text) { return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}; }
std::string text(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

struct GoneRow {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;  // raw 32 bytes
};

// A manifest entry that refers to content the central already has (a rename
// or a deletion of `gone`).
spool::ObjectEntry entry_without_content(const std::string& source, const std::string& path, spool::Change change,
                                         const GoneRow& gone, std::int64_t mtime_ns, const Analysis& analysis) {
  spool::ObjectEntry entry;
  entry.source = source;
  entry.path = path;
  entry.change = change;
  entry.size = gone.size;
  entry.mtime_ns = mtime_ns;
  entry.sha256 = base::to_hex(base::as_bytes(gone.sha256));
  entry.meta_json = analysis.meta_json;
  return entry;
}

// The manifest meta of a filtered copy says what was left out (counts only).
std::string with_filter_meta(const std::string& meta_json, const FilterResult& result) {
  std::string extra = "\"optout\":{\"rows_removed\":" + std::to_string(result.rows_removed) +
                      ",\"receipts_removed\":" + std::to_string(result.receipts_removed) + "}";
  if (result.notice_held != 0) extra += ",\"notice\":{\"held\":" + std::to_string(result.notice_held) + "}";
  if (meta_json.size() < 2 || meta_json.back() != '}') return "{" + extra + "}";
  std::string out = meta_json.substr(0, meta_json.size() - 1);
  if (out != "{") out.push_back(',');
  return out + extra + "}";
}

// Pages read ahead at once, and the bytes of small files each may hold in
// memory.
constexpr std::size_t read_ahead_pages = 2;
constexpr std::uint64_t read_ahead_bytes = 16ULL << 20;
// Reading and parsing small files costs more than building their objects.
constexpr std::size_t read_ahead_threads = 2;
// Large files read ahead: each keeps its compressed copy (a descriptor and
// the disk it takes) until its turn, so a page of them is not read at once.
constexpr std::size_t read_ahead_large_files = 4;

}  // namespace

// The changes phase of one pass: pages of new or changed files in path
// order, each decided here (excluded, renamed, waiting, unreadable, held,
// touched, sent). Reading, hashing and analysing the files of the next page
// runs on helper threads while this one builds objects: the rows they read
// are chosen here (settled, not a rename by inode), within a memory budget.
// What they prepared is only a head start: every decision is taken in path
// order, and a row they skipped is read then.
class TreeFeed::Changes {
 public:
  using Reads = std::vector<std::optional<FileRead>>;

  // `walk_reads`: a first pass, whose walk reads the files it may ahead
  // (tree_feed_first.cpp).
  Changes(TreeFeed& feed, SpoolSink& sink, bool walk_reads)
      : walk_reads_(walk_reads),
        feed_(feed),
        sink_(sink),
        policy_(sink.shared_policy()),
        root_fd_(::open(feed.settings_.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
        root_{feed.settings_.root.string(), root_fd_.get()},
        db_(feed.state_.db()),
        // Prepared once; each is reset right after use, so none holds a read
        // transaction open while an object is committed.
        page_query_(db_.prepare("SELECT path, size, mtime_ns, ctime_ns, device, inode, modified FROM scan_new "
                                "WHERE source = ?1 AND path > ?2 ORDER BY path LIMIT ?3")),
        gone_by_inode_(db_.prepare("SELECT path, size, mtime_ns, sha256 FROM scan_gone WHERE source = ?1 AND "
                                   "consumed = 0 AND device = ?2 AND inode = ?3")),
        gone_by_sha256_(db_.prepare("SELECT path, size, mtime_ns, sha256 FROM scan_gone WHERE source = ?1 AND "
                                    "consumed = 0 AND sha256 = ?2")),
        consume_(db_.prepare("UPDATE scan_gone SET consumed = 1 WHERE source = ?1 AND path = ?2")),
        known_(db_.prepare("SELECT sha256 FROM file_index WHERE source = ?1 AND path = ?2")) {}

  // Keyset pagination over scan_new, so no statement stays open across commits.
  std::vector<ScanRow> fetch_page() {
    std::vector<ScanRow> page;
    page_query_.bind_all(source(), blob(after_), static_cast<std::int64_t>(page_size));
    while (page_query_.step()) {
      ScanRow row;
      row.path = text(page_query_.column_blob(0));
      row.stat = FileStat{static_cast<std::uint64_t>(page_query_.column_int64(1)), page_query_.column_int64(2),
                          page_query_.column_int64(3), static_cast<std::uint64_t>(page_query_.column_int64(4)),
                          static_cast<std::uint64_t>(page_query_.column_int64(5))};
      row.modified = page_query_.column_int64(6) != 0;
      page.push_back(std::move(row));
    }
    page_query_.reset();
    if (!page.empty()) after_ = page.back().path;
    return page;
  }

  std::vector<std::future<Reads>> read_ahead(const std::vector<ScanRow>& page) {
    auto wanted = std::make_shared<std::vector<bool>>(page.size(), false);
    std::uint64_t budget = read_ahead_bytes;
    std::size_t large_left = read_ahead_large_files;
    for (std::size_t i = 0; i < page.size(); ++i) {
      const ScanRow& row = page[i];
      if (row.work) continue;  // read by the walk
      if (feed_.profile_.exclusion(row.path, *policy_) != Exclusion::none) continue;
      if (!feed_.settled(row.stat.mtime_ns, row.stat.ctime_ns) || renamed_by_inode(row)) continue;
      if (large(row)) {
        // Read at its turn: the walk had its own share of large files ahead.
        if (large_left == 0 || walk_reads_) continue;
        --large_left;
      } else {
        if (row.stat.size > budget) break;
        budget -= row.stat.size;
      }
      (*wanted)[i] = true;
    }
    if (std::find(wanted->begin(), wanted->end(), true) == wanted->end()) return {};  // a first pass: read by the walk
    auto rows = std::make_shared<const std::vector<ScanRow>>(page);
    std::vector<std::future<Reads>> parts;
    const std::size_t slice = (page.size() + read_ahead_threads - 1) / read_ahead_threads;
    for (std::size_t begin = 0; begin < page.size(); begin += slice) {
      const std::size_t end = std::min(page.size(), begin + slice);
      parts.push_back(std::async(std::launch::async, [this, rows, wanted, begin, end] {
        Reads reads(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
          if ((*wanted)[i]) reads[i - begin] = read((*rows)[i]);
        }
        return reads;
      }));
    }
    return parts;
  }

  static Reads collect_reads(std::vector<std::future<Reads>>& parts) {
    Reads all;
    for (std::future<Reads>& part : parts) {
      Reads reads = part.get();
      std::move(reads.begin(), reads.end(), std::back_inserter(all));
    }
    parts.clear();
    return all;
  }

  // Decides one row; `ahead` is what the read-ahead prepared, if anything.
  void handle(const ScanRow& row, std::optional<FileRead> ahead) {
    // Nothing of an opted-out patient, nor from before the window, is read
    // or indexed: once the patient is off the list (or the window moves),
    // the file is new again and collected then.
    if (policy_->notice) {
      if (const std::optional<Encounter> encounter = feed_.profile_.encounter(row.path)) policy_->notice->record(*encounter);
    }
    if (sink_.refuse(feed_.profile_.exclusion(row.path, *policy_))) return;
    // A renamed file keeps its inode, size and mtime: nothing to read.
    if (auto gone = renamed_by_inode(row)) return add_rename(row, *gone);
    if (!feed_.settled(row.stat.mtime_ns, row.stat.ctime_ns)) return wait(row);
    sink_.make_room(row.stat.size);
    FileRead file = ahead ? std::move(*ahead) : read(row);
    if (file.status == FileRead::Status::unreadable) {
      ++feed_.summary_->unreadable;
      if (file.error != ENOENT) {
        feed_.logger_.warn("collect.unreadable_file", "a file cannot be read; it is skipped and counted",
                           {{"source", source()}, {"error", std::strerror(file.error)}});
      }
      return;
    }
    if (file.status == FileRead::Status::changed) return wait(row);
    // The content may name a patient its path does not (a file filed under
    // the wrong folder): an opted-out one keeps it back too.
    if (sink_.refuse_content_patient(file.analysis->content_patient_id)) return;
    if (held(file)) return;

    spool::Change change = spool::Change::add;
    if (!row.modified) {
      // The same content under a new name (a copy, then a deletion).
      if (feed_.gone_left_ > 0) {
        gone_by_sha256_.bind_all(source(), blob(file.sha256));
        if (auto gone = take_gone(gone_by_sha256_)) return add_rename(row, *gone);
      }
    } else {
      known_.bind_all(source(), blob(row.path));
      const bool same_content = known_.step() && text(known_.column_blob(0)) == file.sha256;
      known_.reset();
      if (same_content) return feed_.journal_.touch(row.path, row.stat);
      change = spool::Change::modify;
    }
    send(row, file, change);
  }

 private:
  [[nodiscard]] const std::string& source() const { return feed_.settings_.source; }
  [[nodiscard]] bool large(const ScanRow& row) const { return row.stat.size > feed_.settings_.in_memory_limit; }
  [[nodiscard]] FileRead read(const ScanRow& row) const {
    return read_and_analyze(feed_.profile_, root_, row, feed_.settings_.in_memory_limit, policy_, sink_.spill_folder());
  }

  void wait(const ScanRow& row) {
    ++feed_.summary_->waiting;
    feed_.waiting_sizes_.push_back(row.stat.size);
  }

  static std::optional<GoneRow> take_gone(base::Statement& query) {
    std::optional<GoneRow> gone;
    if (query.step()) {
      gone = GoneRow{text(query.column_blob(0)), static_cast<std::uint64_t>(query.column_int64(1)),
                     query.column_int64(2), text(query.column_blob(3))};
    }
    query.reset();
    return gone;
  }

  std::optional<GoneRow> renamed_by_inode(const ScanRow& row) {
    if (row.modified || feed_.gone_left_ == 0) return std::nullopt;
    gone_by_inode_.bind_all(source(), row.stat.device, row.stat.inode);
    auto gone = take_gone(gone_by_inode_);
    if (gone && gone->size == row.stat.size && gone->mtime_ns == row.stat.mtime_ns) return gone;
    return std::nullopt;
  }

  void add_rename(const ScanRow& row, const GoneRow& gone) {
    consume_.bind_all(source(), blob(gone.path)).run();
    consume_.reset();
    --feed_.gone_left_;
    const Analysis analysis = feed_.profile_.analyze(row.path, std::nullopt);
    SinkItem item{entry_without_content(source(), row.path, spool::Change::rename, gone, row.stat.mtime_ns, analysis),
                  analysis.anomalies, analysis.patient_id};
    item.entry.from = gone.path;
    feed_.journal_.remove(gone.path);
    feed_.journal_.upsert(row.path, row.stat, gone.sha256, analysis.anomalies);
    sink_.add(std::move(item));
  }

  // policy.unidentified: hold. Not indexed, so it is looked at again each
  // pass (and sent once the list can clear it).
  bool held(const FileRead& file) {
    if (!file.filtered) return false;
    feed_.summary_->unidentified += file.filtered->unidentified;
    if (!file.filtered->hold) return false;
    ++feed_.summary_->held;
    if (!file.filtered->hold_reason.empty()) {
      feed_.logger_.warn("collect.file_held", "a file is held back: " + file.filtered->hold_reason,
                         {{"source", source()}, {"unidentified", file.filtered->unidentified}});
      return true;
    }
    feed_.logger_.warn("collect.receipts_held",
                       "a receipt file is held back: it has receipts without カルテ番号 that cannot be checked "
                       "against the opt-out list; add kana_name and birth_date to every opt-out entry, or set "
                       "policy.unidentified: send",
                       {{"source", source()}, {"receipts", file.filtered->unidentified}});
    return true;
  }

  void send(const ScanRow& row, const FileRead& file, spool::Change change) {
    const Analysis& analysis = *file.analysis;
    spool::ObjectEntry entry;
    entry.source = source();
    entry.path = row.path;
    entry.change = change;
    entry.size = row.stat.size;
    entry.mtime_ns = row.stat.mtime_ns;
    entry.sha256 = base::to_hex(base::as_bytes(file.sha256));
    entry.meta_json = analysis.meta_json;
    const bool filtered = file.filtered && file.filtered->changed();
    if (filtered) {
      // The copy sent leaves out opted-out patients; the index keeps the
      // file's own hash, so the file is not read again until it changes.
      entry.size = file.filtered_size;
      entry.sha256 = base::to_hex(base::as_bytes(file.filtered_sha256));
      entry.meta_json = with_filter_meta(
          file.filtered->meta_json.empty() ? entry.meta_json : file.filtered->meta_json, *file.filtered);
      feed_.summary_->rows_removed += file.filtered->rows_removed;
      feed_.summary_->receipts_removed += file.filtered->receipts_removed;
      feed_.summary_->rows_held_notice += file.filtered->notice_held;
    }
    std::optional<std::string_view> content;
    if (large(row) && file.spilled) {
      entry.spilled = file.spilled;  // compressed as it was read
    } else if (large(row)) {
      entry.file = root_.path + "/" + row.path;  // streamed by the builder, which checks size and SHA-256 again
      if (filtered && file.filtered->dropped_rows && file.filtered->dropped_rows->complete) {
        // DPC: the builder's read leaves out the same bytes, looking at no row.
        entry.filter = [dropped = file.filtered->dropped_rows] { return make_dropped_rows_filter(dropped); };
      } else if (filtered) {
        entry.filter = [profile = &feed_.profile_, path = row.path, policy = policy_]()
            -> std::unique_ptr<spool::ContentFilter> { return profile->optout_filter(path, policy); };
      }
      if (filtered) {
        entry.source_size = row.stat.size;
        entry.source_sha256 = base::to_hex(base::as_bytes(file.sha256));
      }
    } else {
      content = filtered ? file.filtered_content : file.content;
    }
    feed_.journal_.upsert(row.path, row.stat, file.sha256, analysis.anomalies);
    if (filtered && !file.filtered->notice_held_ids.empty()) feed_.journal_.hold_rows(row.path, file.filtered->notice_held_ids);
    sink_.add(SinkItem{std::move(entry), analysis.anomalies, analysis.patient_id}, content);
  }

  const bool walk_reads_;
  TreeFeed& feed_;
  SpoolSink& sink_;
  std::shared_ptr<const PatientPolicy> policy_;
  base::UniqueFd root_fd_;
  SourceRoot root_;
  base::Database& db_;
  std::string after_;
  base::Statement page_query_;
  base::Statement gone_by_inode_;
  base::Statement gone_by_sha256_;
  base::Statement consume_;
  base::Statement known_;
};

void TreeFeed::process_changes(SpoolSink& sink, PageSource next_page_source) {
  Changes changes(*this, sink, static_cast<bool>(next_page_source));
  if (!next_page_source) next_page_source = [&changes] { return changes.fetch_page(); };
  // Pages being read ahead, oldest first: two, so that the helpers always
  // have a page to read while this thread handles one.
  struct Ahead {
    std::vector<ScanRow> page;
    std::vector<std::future<Changes::Reads>> parts;
  };
  std::deque<Ahead> ahead;
  // Read-aheads still at work when the pass stops (paused, interrupted)
  // read their page and this feed: let them finish first.
  struct WaitForReads {
    std::deque<Ahead>& pages;
    ~WaitForReads() {
      for (Ahead& page : pages) {
        for (auto& part : page.parts) {
          if (part.valid()) part.wait();
        }
      }
    }
  } wait_for_reads{ahead};
  bool more = true;
  auto read_next = [&] {
    if (!more) return;
    std::vector<ScanRow> page = next_page_source();
    if (page.empty()) {
      more = false;
      return;
    }
    ahead.push_back(Ahead{std::move(page), {}});
    ahead.back().parts = changes.read_ahead(ahead.back().page);
  };
  for (std::size_t i = 0; i < read_ahead_pages; ++i) read_next();
  while (!ahead.empty()) {
    Changes::Reads reads = Changes::collect_reads(ahead.front().parts);
    std::vector<ScanRow> page = std::move(ahead.front().page);
    ahead.pop_front();
    read_next();
    reads.resize(page.size());  // nothing was read ahead: a page the walk read
    for (std::size_t index = 0; index < page.size(); ++index) {
      if (auto* prepared = dynamic_cast<PreparedRead*>(page[index].work.get())) reads[index] = std::move(prepared->read);
      changes.handle(page[index], std::move(reads[index]));
      page[index].work.reset();  // its share of the read-ahead budget back
    }
    if (progress_) progress_(*summary_);
  }
  sink.flush();
}

void TreeFeed::process_gone(SpoolSink& sink) {
  base::Database& db = state_.db();
  std::sort(waiting_sizes_.begin(), waiting_sizes_.end());
  std::string after;
  std::vector<GoneRow> page;
  while (true) {
    page.clear();
    {
      base::Statement query = db.prepare(
          "SELECT path, size, mtime_ns, sha256 FROM scan_gone WHERE source = ?1 AND consumed = 0 AND path > ?2 "
          "ORDER BY path LIMIT ?3");
      query.bind_all(settings_.source, blob(after), static_cast<std::int64_t>(page_size));
      while (query.step()) {
        page.push_back({text(query.column_blob(0)), static_cast<std::uint64_t>(query.column_int64(1)),
                        query.column_int64(2), text(query.column_blob(3))});
      }
    }
    if (page.empty()) break;
    after = page.back().path;
    for (const GoneRow& gone : page) {
      // Withheld wholesale (mass vanish), or perhaps renamed to a file
      // that is still settling: decide in a later pass.
      if (summary_->deletes_withheld || std::binary_search(waiting_sizes_.begin(), waiting_sizes_.end(), gone.size)) {
        ++summary_->deletes_deferred;
        continue;
      }
      journal_.remove(gone.path);
      if (settings_.forget_gone) continue;  // cleaned up after it was sent (a staging area)
      const Analysis analysis = profile_.analyze(gone.path, std::nullopt);
      sink.add(SinkItem{
          entry_without_content(settings_.source, gone.path, spool::Change::remove, gone, gone.mtime_ns, analysis),
          analysis.anomalies, analysis.patient_id});
    }
  }
  sink.flush();
}

}  // namespace medgw::collectors
