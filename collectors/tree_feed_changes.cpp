// The tree feed: deciding what each new, changed or gone file is, reading
// and analysing it, and handing it to the sink.
#include <collectors/tree_feed.hpp>

#include <collectors/background_work.hpp>

#include <spool/content_spill.hpp>
#include <spool/zstd_writer.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
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

int open_source_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  return fd;
}

// Reads `fd` to its end, appending to `out`; false on a read error.
bool read_all(int fd, std::string& out) {
  char block[64 << 10];
  while (true) {
    const ssize_t got = ::read(fd, block, sizeof block);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (got == 0) return true;
    out.append(block, static_cast<std::size_t>(got));
  }
}

bool same_file(const FileStat& a, const FileStat& b) {
  return a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.inode == b.inode;
}

}  // namespace

namespace {

// One file read (small: its bytes; large: only hashed) and looked at again.
struct FileRead {
  enum class Status { ok, unreadable, changed } status = Status::ok;
  int error = 0;             // errno when unreadable
  std::string content;       // small files only
  std::string sha256;        // raw 32 bytes
  std::optional<Analysis> analysis;  // filled by the read-ahead
  // With an opt-out filter: what it did, and the copy that would be sent.
  std::optional<FilterResult> filtered;
  std::string filtered_content;  // small files only
  std::string filtered_sha256;   // raw
  std::uint64_t filtered_size = 0;
  // Large files: what is sent (the filtered copy, or the file), compressed
  // during this read, so the object builder need not read the file again.
  std::shared_ptr<const spool::SpilledContent> spilled;
};

// Runs an opt-out filter over the pieces of a file, keeping (small files) or
// only hashing (large ones) what it makes of them.
class FilterRun {
 public:
  FilterRun(OptOutFilter& filter, bool keep, spool::ContentSpill* spill) : filter_(filter), keep_(keep), spill_(spill) {}
  void feed(std::string_view bytes) {
    filter_.feed(bytes, scratch_);
    take();
  }
  void finish(FileRead& read) {
    filter_.finish(scratch_);
    take();
    read.filtered = filter_.result();
    if (keep_) read.filtered->dropped_rows = nullptr;  // only a large file may be read again
    const auto digest = hash_.finish();
    read.filtered_sha256.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
    read.filtered_size = size_;
    read.filtered_content = std::move(kept_);
  }

 private:
  void take() {
    hash_.update(base::as_bytes(scratch_));
    size_ += scratch_.size();
    if (keep_) kept_.append(scratch_);
    if (spill_ != nullptr) spill_->write(scratch_);
    scratch_.clear();
  }
  OptOutFilter& filter_;
  bool keep_;
  spool::ContentSpill* spill_;
  std::string scratch_;
  std::string kept_;
  crypto::Sha256 hash_;
  std::uint64_t size_ = 0;
};

FileRead read_source_file(const std::string& file, const FileStat& expected, bool large, ContentCheck* check,
                          OptOutFilter* filter, const std::filesystem::path* spill_folder) {
  FileRead read;
  const int fd = open_source_file(file);
  if (fd < 0) {
    read.status = FileRead::Status::unreadable;
    read.error = errno;
    return read;
  }
  // Large files are compressed as they are read (a spill that fails is
  // dropped: the builder then reads the file again and checks it against
  // this read's size and hash).
  spool::ContentSpill spill(large ? spill_folder : nullptr, spool::object_zstd_level);
  std::optional<FilterRun> filter_run;
  if (filter != nullptr) filter_run.emplace(*filter, !large, &spill);
  bool read_ok = true;
  int error = 0;
  crypto::Sha256 hash;
  if (large) {
    // Each block is hashed and checked on a second thread while this one
    // filters it (the worker is declared after the buffer: it ends first).
    std::vector<char> buffer(1 << 20);
    BackgroundWork background([&hash, check](std::string_view block) {
      hash.update(base::as_bytes(block));
      if (check != nullptr) check->update(block);
    });
    while (true) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        read_ok = got == 0;
        error = errno;
        break;
      }
      const std::string_view block(buffer.data(), static_cast<std::size_t>(got));
      background.start(block);
      if (filter_run) {
        filter_run->feed(block);
      } else {
        spill.write(block);
      }
      background.wait();
    }
  } else {
    read.content.reserve(expected.size);
    read_ok = read_all(fd, read.content);
    if (!read_ok) error = errno;
  }
  struct stat after_read {};
  const bool stat_ok = ::fstat(fd, &after_read) == 0;
  if (read_ok && !stat_ok) error = errno;
  ::close(fd);
  if (!read_ok || !stat_ok) {
    read.status = FileRead::Status::unreadable;
    read.error = error;
    read.content.clear();
    return read;
  }
  if (!same_file(file_stat_of(after_read), expected) || (!large && read.content.size() != expected.size)) {
    read.status = FileRead::Status::changed;  // written to while we looked: not settled after all
    read.content.clear();
    return read;
  }
  if (!large) hash.update(base::as_bytes(read.content));
  const auto digest = hash.finish();
  read.sha256.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
  if (filter_run) {
    if (!large) filter_run->feed(read.content);
    filter_run->finish(read);
  }
  if (large) read.spilled = spill.finish();
  return read;
}

// Reads a file and analyses it with the source's profile: small files from
// their bytes, large ones with the profile's streaming check (fed while
// hashing) or from their path alone.
FileRead read_and_analyze(const SourceProfile& profile, const std::string& root, const ScanRow& row,
                          std::uint64_t in_memory_limit, const std::shared_ptr<const PatientPolicy>& policy,
                          const std::filesystem::path& spill_folder) {
  const bool large = row.stat.size > in_memory_limit;
  std::unique_ptr<ContentCheck> check = large ? profile.stream_check(row.path) : nullptr;
  std::unique_ptr<OptOutFilter> filter = profile.optout_filter(row.path, policy);
  FileRead read = read_source_file(root + "/" + row.path, row.stat, large, check.get(), filter.get(), &spill_folder);
  if (read.status == FileRead::Status::ok) {
    if (check) {
      read.analysis = check->finish();
    } else {
      read.analysis = large ? profile.analyze(row.path, std::nullopt) : profile.analyze(row.path, read.content);
    }
  }
  return read;
}

// Read-ahead budget: the bytes of small files one page may hold in memory.
constexpr std::uint64_t read_ahead_bytes = 32ULL << 20;
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

  Changes(TreeFeed& feed, SpoolSink& sink)
      : feed_(feed),
        sink_(sink),
        policy_(sink.shared_policy()),
        root_(feed.settings_.root.string()),
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
      if (feed_.profile_.exclusion(row.path, *policy_) != Exclusion::none) continue;
      if (!feed_.settled(row.stat.mtime_ns, row.stat.ctime_ns) || renamed_by_inode(row)) continue;
      if (large(row)) {
        if (large_left == 0) continue;  // read at its turn
        --large_left;
      } else {
        if (row.stat.size > budget) break;
        budget -= row.stat.size;
      }
      (*wanted)[i] = true;
    }
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
      entry.file = root_ + "/" + row.path;  // streamed by the builder, which checks size and SHA-256 again
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

  TreeFeed& feed_;
  SpoolSink& sink_;
  std::shared_ptr<const PatientPolicy> policy_;
  std::string root_;
  base::Database& db_;
  std::string after_;
  base::Statement page_query_;
  base::Statement gone_by_inode_;
  base::Statement gone_by_sha256_;
  base::Statement consume_;
  base::Statement known_;
};

void TreeFeed::process_changes(SpoolSink& sink, PageSource next_page_source) {
  Changes changes(*this, sink);
  if (!next_page_source) next_page_source = [&changes] { return changes.fetch_page(); };
  std::vector<ScanRow> page = next_page_source();
  std::vector<std::future<Changes::Reads>> pending;
  // Read-aheads still at work when the pass stops (paused, interrupted)
  // read `page` and this feed: let them finish first.
  struct WaitForReads {
    std::vector<std::future<Changes::Reads>>& parts;
    ~WaitForReads() {
      for (auto& part : parts) {
        if (part.valid()) part.wait();
      }
    }
  } wait_for_reads{pending};
  if (!page.empty()) pending = changes.read_ahead(page);
  while (!page.empty()) {
    Changes::Reads reads = Changes::collect_reads(pending);
    std::vector<ScanRow> next_page = next_page_source();
    if (!next_page.empty()) pending = changes.read_ahead(next_page);
    for (std::size_t index = 0; index < page.size(); ++index) changes.handle(page[index], std::move(reads[index]));
    if (progress_) progress_(*summary_);
    page = std::move(next_page);
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
