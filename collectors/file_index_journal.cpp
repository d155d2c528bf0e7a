#include <collectors/file_index_journal.hpp>

#include <base/bytes.hpp>

#include <base/sqlite.hpp>

#include <span>

namespace medgw::collectors {
namespace {

void commit_ops(base::Database& db, const std::string& source, PassSummary* summary,
                const std::vector<FileIndexJournal::Op>& ops, std::int64_t object_seq);

}  // namespace

class FileIndexJournal::Taken final : public SinkJournal::Records {
 public:
  Taken(std::string source, PassSummary* summary, std::vector<Op> ops)
      : source_(std::move(source)), summary_(summary), ops_(std::move(ops)) {}
  void commit(base::Database& db, std::int64_t object_seq) override {
    commit_ops(db, source_, summary_, ops_, object_seq);
  }

 private:
  std::string source_;
  PassSummary* summary_;
  std::vector<Op> ops_;
};

std::unique_ptr<SinkJournal::Records> FileIndexJournal::take() {
  auto taken = std::make_unique<Taken>(source_, summary_, std::move(ops_));
  ops_.clear();
  return taken;
}

void FileIndexJournal::commit(base::Database& db, std::int64_t object_seq) {
  commit_ops(db, source_, summary_, ops_, object_seq);
  ops_.clear();
}

void FileIndexJournal::upsert(std::string path, const FileStat& stat, std::string sha256, AnomalySet anomalies) {
  ops_.push_back({Op::Kind::upsert, std::move(path), stat, std::move(sha256), anomalies, {}});
}

void FileIndexJournal::touch(std::string path, const FileStat& stat) {
  ops_.push_back({Op::Kind::touch, std::move(path), stat, {}, 0, {}});
}

void FileIndexJournal::remove(std::string path) { ops_.push_back({Op::Kind::remove, std::move(path), {}, {}, 0, {}}); }

void FileIndexJournal::hold_rows(std::string path, const std::set<std::string, std::less<>>& patients) {
  ops_.push_back({Op::Kind::hold, std::move(path), {}, {}, 0, {patients.begin(), patients.end()}});
}

namespace {

void commit_ops(base::Database& db, const std::string& source, PassSummary* summary,
                const std::vector<FileIndexJournal::Op>& ops, std::int64_t object_seq) {
  using Op = FileIndexJournal::Op;
  base::Statement upsert = db.prepare(
      "INSERT INTO file_index (source, path, size, mtime_ns, ctime_ns, device, inode, sha256, object_seq, anomalies) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (source, path) DO UPDATE SET "
      "size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, device = excluded.device, "
      "inode = excluded.inode, sha256 = excluded.sha256, object_seq = excluded.object_seq, anomalies = excluded.anomalies");
  base::Statement touch = db.prepare(
      "UPDATE file_index SET size = ?3, mtime_ns = ?4, ctime_ns = ?5, device = ?6, inode = ?7 "
      "WHERE source = ?1 AND path = ?2");
  base::Statement remove = db.prepare("DELETE FROM file_index WHERE source = ?1 AND path = ?2");
  base::Statement forget_held = db.prepare("DELETE FROM notice_held_rows WHERE source = ?1 AND path = ?2");
  base::Statement hold = db.prepare(
      "INSERT OR IGNORE INTO notice_held_rows (source, path, patient_id) VALUES (?1, ?2, ?3)");
  // Held rows are rare (the notice period, DPC/UKE only): look once per commit, not once per file.
  bool any_held = false;
  {
    base::Statement held = db.prepare("SELECT EXISTS (SELECT 1 FROM notice_held_rows WHERE source = ?1)");
    held.bind_all(source);
    any_held = held.step() && held.column_int64(0) != 0;
  }
  auto forget = [&](const std::string& path) {
    if (!any_held) return;
    forget_held.bind_all(source, base::as_bytes(path)).run();
    forget_held.reset();
  };
  std::uint64_t touched = 0;
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::upsert:
        upsert.bind_all(source, base::as_bytes(op.path), op.stat.size, op.stat.mtime_ns, op.stat.ctime_ns, op.stat.device,
                        op.stat.inode, base::as_bytes(op.sha256), object_seq, static_cast<std::int64_t>(op.anomalies));
        upsert.run();
        upsert.reset();
        forget(op.path);
        break;
      case Op::Kind::touch:
        touch.bind_all(source, base::as_bytes(op.path), op.stat.size, op.stat.mtime_ns, op.stat.ctime_ns, op.stat.device,
                       op.stat.inode);
        touch.run();
        touch.reset();
        ++touched;
        break;
      case Op::Kind::remove:
        remove.bind_all(source, base::as_bytes(op.path));
        remove.run();
        remove.reset();
        forget(op.path);
        break;
      case Op::Kind::hold:
        for (const std::string& patient : op.patients) {
          hold.bind_all(source, base::as_bytes(op.path), patient).run();
          hold.reset();
        }
        break;
    }
  }
  // Counted here: only what was committed (a rolled-back commit throws out of
  // the transaction before the pass goes on).
  if (summary != nullptr) summary->metadata_only += touched;
}

}  // namespace

}  // namespace medgw::collectors
