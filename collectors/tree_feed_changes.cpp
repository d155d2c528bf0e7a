// The tree feed: deciding what each new, changed or gone file is, reading
// and analysing it, and handing it to the sink.
#include <collectors/tree_feed.hpp>

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
};

// Runs an opt-out filter over the pieces of a file, keeping (small files) or
// only hashing (large ones) what it makes of them.
class FilterRun {
 public:
  FilterRun(OptOutFilter& filter, bool keep) : filter_(filter), keep_(keep) {}
  void feed(std::string_view bytes) {
    filter_.feed(bytes, scratch_);
    take();
  }
  void finish(FileRead& read) {
    filter_.finish(scratch_);
    take();
    read.filtered = filter_.result();
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
    scratch_.clear();
  }
  OptOutFilter& filter_;
  bool keep_;
  std::string scratch_;
  std::string kept_;
  crypto::Sha256 hash_;
  std::uint64_t size_ = 0;
};

FileRead read_source_file(const std::string& file, const FileStat& expected, bool large, ContentCheck* check,
                          OptOutFilter* filter) {
  FileRead read;
  const int fd = open_source_file(file);
  if (fd < 0) {
    read.status = FileRead::Status::unreadable;
    read.error = errno;
    return read;
  }
  crypto::Sha256 hash;
  std::optional<FilterRun> filter_run;
  if (filter != nullptr) filter_run.emplace(*filter, !large);
  bool read_ok = true;
  int error = 0;
  if (large) {
    std::vector<char> buffer(256 << 10);
    while (true) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        read_ok = got == 0;
        error = errno;
        break;
      }
      hash.update(base::ByteView(reinterpret_cast<const std::uint8_t*>(buffer.data()), static_cast<std::size_t>(got)));
      if (check != nullptr) check->update(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
      if (filter_run) filter_run->feed(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
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
  return read;
}

// Reads a file and analyses it with the source's profile: small files from
// their bytes, large ones with the profile's streaming check (fed while
// hashing) or from their path alone.
FileRead read_and_analyze(const SourceProfile& profile, const std::string& root, const ScanRow& row,
                          std::uint64_t in_memory_limit, const std::shared_ptr<const PatientPolicy>& policy) {
  const bool large = row.stat.size > in_memory_limit;
  std::unique_ptr<ContentCheck> check = large ? profile.stream_check(row.path) : nullptr;
  std::unique_ptr<OptOutFilter> filter = profile.optout_filter(row.path, policy);
  FileRead read = read_source_file(root + "/" + row.path, row.stat, large, check.get(), filter.get());
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

}  // namespace

void TreeFeed::process_changes(SpoolSink& sink, PageSource next_page_source) {
  base::Database& db = state_.db();
  const std::shared_ptr<const PatientPolicy> policy = sink.shared_policy();
  const std::string root = settings_.root.string();
  std::string after;  // keyset pagination over scan_new, so no statement stays open across commits
  // Prepared once; each is reset right after use, so none holds a read
  // transaction open while an object is committed.
  base::Statement page_query = db.prepare(
      "SELECT path, size, mtime_ns, ctime_ns, device, inode, modified FROM scan_new "
      "WHERE source = ?1 AND path > ?2 ORDER BY path LIMIT ?3");
  base::Statement gone_by_inode = db.prepare(
      "SELECT path, size, mtime_ns, sha256 FROM scan_gone WHERE source = ?1 AND consumed = 0 AND device = ?2 AND "
      "inode = ?3");
  base::Statement gone_by_sha256 =
      db.prepare("SELECT path, size, mtime_ns, sha256 FROM scan_gone WHERE source = ?1 AND consumed = 0 AND sha256 = ?2");
  base::Statement consume = db.prepare("UPDATE scan_gone SET consumed = 1 WHERE source = ?1 AND path = ?2");
  base::Statement known = db.prepare("SELECT sha256 FROM file_index WHERE source = ?1 AND path = ?2");
  auto take_gone = [&](base::Statement& query) -> std::optional<GoneRow> {
    std::optional<GoneRow> gone;
    if (query.step()) {
      gone = GoneRow{text(query.column_blob(0)), static_cast<std::uint64_t>(query.column_int64(1)),
                     query.column_int64(2), text(query.column_blob(3))};
    }
    query.reset();
    return gone;
  };
  auto renamed_by_inode = [&](const ScanRow& row) -> std::optional<GoneRow> {
    if (row.modified || gone_left_ == 0) return std::nullopt;
    gone_by_inode.bind_all(settings_.source, row.stat.device, row.stat.inode);
    auto gone = take_gone(gone_by_inode);
    if (gone && gone->size == row.stat.size && gone->mtime_ns == row.stat.mtime_ns) return gone;
    return std::nullopt;
  };
  auto fetch_page = [&] {
    std::vector<ScanRow> page;
    page_query.bind_all(settings_.source, blob(after), static_cast<std::int64_t>(page_size));
    while (page_query.step()) {
      ScanRow row;
      row.path = text(page_query.column_blob(0));
      row.stat = FileStat{static_cast<std::uint64_t>(page_query.column_int64(1)), page_query.column_int64(2),
                          page_query.column_int64(3), static_cast<std::uint64_t>(page_query.column_int64(4)),
                          static_cast<std::uint64_t>(page_query.column_int64(5))};
      row.modified = page_query.column_int64(6) != 0;
      page.push_back(std::move(row));
    }
    page_query.reset();
    if (!page.empty()) after = page.back().path;
    return page;
  };
  // Reading, hashing and analysing the files of the next page runs on
  // helper threads while this one builds objects: the rows they will read are
  // chosen here (settled, not a rename by inode), within a memory budget.
  // What they prepared is only a head start: every decision is taken below,
  // in path order, and a row they skipped is read then.
  using Reads = std::vector<std::optional<FileRead>>;
  auto read_ahead = [&](const std::vector<ScanRow>& page) {
    auto wanted = std::make_shared<std::vector<bool>>(page.size(), false);
    std::uint64_t budget = read_ahead_bytes;
    for (std::size_t i = 0; i < page.size(); ++i) {
      const ScanRow& row = page[i];
      if (profile_.exclusion(row.path, *policy) != Exclusion::none) continue;
      if (!settled(row.stat.mtime_ns, row.stat.ctime_ns) || renamed_by_inode(row)) continue;
      const bool large = row.stat.size > settings_.in_memory_limit;
      if (!large) {
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
      parts.push_back(std::async(std::launch::async, [this, rows, wanted, root, begin, end, policy] {
        Reads reads(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
          if (!(*wanted)[i]) continue;
          reads[i - begin] = read_and_analyze(profile_, root, (*rows)[i], settings_.in_memory_limit, policy);
        }
        return reads;
      }));
    }
    return parts;
  };
  auto collect_reads = [](std::vector<std::future<Reads>>& parts) {
    Reads all;
    for (std::future<Reads>& part : parts) {
      Reads reads = part.get();
      std::move(reads.begin(), reads.end(), std::back_inserter(all));
    }
    parts.clear();
    return all;
  };

  if (!next_page_source) next_page_source = fetch_page;
  std::vector<ScanRow> page = next_page_source();
  std::vector<std::future<Reads>> pending;
  // Read-aheads still at work when the pass stops (paused, interrupted)
  // read `page` and this feed: let them finish first.
  struct WaitForReads {
    std::vector<std::future<Reads>>& parts;
    ~WaitForReads() {
      for (std::future<Reads>& part : parts) {
        if (part.valid()) part.wait();
      }
    }
  } wait_for_reads{pending};
  if (!page.empty()) pending = read_ahead(page);
  std::vector<ScanRow> next_page;
  while (!page.empty()) {
    Reads reads = collect_reads(pending);
    next_page = next_page_source();
    if (!next_page.empty()) pending = read_ahead(next_page);

    for (std::size_t index = 0; index < page.size(); ++index) {
      const ScanRow& row = page[index];
      auto add_rename = [&](const GoneRow& gone) {
        consume.bind_all(settings_.source, blob(gone.path)).run();
        consume.reset();
        --gone_left_;
        const Analysis analysis = profile_.analyze(row.path, std::nullopt);
        SinkItem item{
            entry_without_content(settings_.source, row.path, spool::Change::rename, gone, row.stat.mtime_ns, analysis),
            analysis.anomalies, analysis.patient_id};
        item.entry.from = gone.path;
        journal_.remove(gone.path);
        journal_.upsert(row.path, row.stat, gone.sha256, analysis.anomalies);
        sink.add(std::move(item));
      };

      // Nothing of an opted-out patient, nor from before the window, is
      // read or indexed: once the patient is off the list (or the window
      // moves), the file is new again and collected then.
      if (sink.refuse(profile_.exclusion(row.path, *policy))) continue;
      // A renamed file keeps its inode, size and mtime: nothing to read.
      if (auto gone = renamed_by_inode(row)) {
        add_rename(*gone);
        continue;
      }
      if (!settled(row.stat.mtime_ns, row.stat.ctime_ns)) {
        ++summary_->waiting;
        waiting_sizes_.push_back(row.stat.size);
        continue;
      }
      const bool large = row.stat.size > settings_.in_memory_limit;
      sink.make_room(row.stat.size);

      const std::string file = root + "/" + row.path;
      FileRead read = reads[index] ? std::move(*reads[index])
                                   : read_and_analyze(profile_, root, row, settings_.in_memory_limit, policy);
      if (read.status == FileRead::Status::unreadable) {
        ++summary_->unreadable;
        if (read.error != ENOENT) {
          logger_.warn("collect.unreadable_file", "a file cannot be read; it is skipped and counted",
                       {{"source", settings_.source}, {"error", std::strerror(read.error)}});
        }
        continue;
      }
      if (read.status == FileRead::Status::changed) {
        ++summary_->waiting;
        waiting_sizes_.push_back(row.stat.size);
        continue;
      }

      // The content may name a patient its path does not (a file filed
      // under the wrong folder): an opted-out one keeps it back too.
      if (sink.refuse_content_patient(read.analysis->content_patient_id)) continue;
      if (read.filtered) {
        summary_->unidentified += read.filtered->unidentified;
        if (read.filtered->hold) {
          // policy.unidentified: hold. Not indexed, so it is looked at again
          // each pass (and sent once the list can clear it).
          ++summary_->held;
          logger_.warn("collect.receipts_held",
                       "a receipt file is held back: it has receipts without カルテ番号 that cannot be checked "
                       "against the opt-out list; add kana_name and birth_date to every opt-out entry, or set "
                       "policy.unidentified: send",
                       {{"source", settings_.source}, {"receipts", read.filtered->unidentified}});
          continue;
        }
      }

      spool::Change change = spool::Change::add;
      if (!row.modified) {
        // The same content under a new name (a copy, then a deletion).
        if (gone_left_ > 0) {
          gone_by_sha256.bind_all(settings_.source, blob(read.sha256));
          if (auto gone = take_gone(gone_by_sha256)) {
            add_rename(*gone);
            continue;
          }
        }
      } else {
        known.bind_all(settings_.source, blob(row.path));
        const bool same_content = known.step() && text(known.column_blob(0)) == read.sha256;
        known.reset();
        if (same_content) {
          journal_.touch(row.path, row.stat);
          continue;
        }
        change = spool::Change::modify;
      }
      const Analysis& analysis = *read.analysis;
      spool::ObjectEntry entry;
      entry.source = settings_.source;
      entry.path = row.path;
      entry.change = change;
      entry.size = row.stat.size;
      entry.mtime_ns = row.stat.mtime_ns;
      entry.sha256 = base::to_hex(base::as_bytes(read.sha256));
      entry.meta_json = analysis.meta_json;
      const bool filtered = read.filtered && read.filtered->changed();
      if (filtered) {
        // The copy sent leaves out opted-out patients; the index keeps the
        // file's own hash, so the file is not read again until it changes.
        entry.size = read.filtered_size;
        entry.sha256 = base::to_hex(base::as_bytes(read.filtered_sha256));
        entry.meta_json = with_filter_meta(entry.meta_json, *read.filtered);
        summary_->rows_removed += read.filtered->rows_removed;
        summary_->receipts_removed += read.filtered->receipts_removed;
      }
      std::optional<std::string_view> content;
      if (large) {
        entry.file = file;  // streamed by the builder, which checks size and SHA-256 again
        if (filtered) {
          entry.filter = [profile = &profile_, path = row.path, policy]()
              -> std::unique_ptr<spool::ContentFilter> { return profile->optout_filter(path, policy); };
          entry.source_size = row.stat.size;
          entry.source_sha256 = base::to_hex(base::as_bytes(read.sha256));
        }
      } else {
        content = filtered ? read.filtered_content : read.content;
      }
      journal_.upsert(row.path, row.stat, read.sha256, analysis.anomalies);
      sink.add(SinkItem{std::move(entry), analysis.anomalies, analysis.patient_id}, content);
    }
    if (progress_) progress_(*summary_);
    page = std::move(next_page);
    next_page.clear();
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
      const Analysis analysis = profile_.analyze(gone.path, std::nullopt);
      journal_.remove(gone.path);
      sink.add(SinkItem{
          entry_without_content(settings_.source, gone.path, spool::Change::remove, gone, gone.mtime_ns, analysis),
          analysis.anomalies, analysis.patient_id});
    }
  }
  sink.flush();
}

}  // namespace medgw::collectors
