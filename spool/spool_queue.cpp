// Spool: the queue as the uploader sees it, and statistics.
#include <spool/spool.hpp>

#include <sys/statvfs.h>

namespace medgw::spool {
namespace {

// One queue update: in its own transaction, or in the open Batch's.
class QueueWrite {
 public:
  QueueWrite(base::Database& db, bool batched) {
    if (!batched) transaction_.emplace(db);
  }
  void commit() {
    if (transaction_) transaction_->commit();
  }

 private:
  std::optional<base::WriteTransaction> transaction_;
};

}  // namespace

// Counted by each flushing commit: a change that makes the commit write (and
// so flush) state.db even when the batch itself wrote nothing.
constexpr std::string_view count_flush =
    "INSERT INTO spool_counters (name, value) VALUES ('delivery_flushes', 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1";

Spool::Batch::Batch(Spool& spool) : spool_(spool), flushed_(spool.begin_batch()), transaction_(spool.state_.db()) {
  spool_.batching_ = true;
}

Spool::Batch::~Batch() {
  spool_.batching_ = false;
  spool_.removals_.clear();  // rolled back: the objects stay, with their files
  spool_.removal_bytes_ = 0;
  spool_.end_batch();
}

void Spool::Batch::commit() {
  if (flushed_) spool_.state_.db().prepare(count_flush).run();
  transaction_.commit();
  spool_.batching_ = false;
  spool_.unflushed_removals_.insert(spool_.unflushed_removals_.end(), spool_.removals_.begin(), spool_.removals_.end());
  spool_.unflushed_bytes_ += spool_.removal_bytes_;
  spool_.removals_.clear();
  spool_.removal_bytes_ = 0;
  if (flushed_) spool_.flushed();
}

bool Spool::begin_batch() {
  const bool flush = unflushed_removals_.size() >= removals_per_flush || unflushed_bytes_ >= bytes_per_flush;
  state_.db().prepare(flush ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL").run();
  return flush;
}

void Spool::end_batch() noexcept {
  try {
    state_.db().prepare("PRAGMA synchronous = FULL").run();  // the connection's setting (state_db.cpp)
  } catch (const std::exception&) {
    // Kept NORMAL: only until the next batch or open sets it again.
  }
}

// After the flushed commit, as for one object: a crash before a removal
// leaves a file without a row, which recover() removes.
void Spool::flushed() {
  for (const std::string& file_name : unflushed_removals_) {
    std::error_code ec;
    std::filesystem::remove(dir_ / file_name, ec);
  }
  unflushed_removals_.clear();
  unflushed_bytes_ = 0;
}

void Spool::sync_deliveries() {
  if (unflushed_removals_.empty()) return;
  base::WriteTransaction transaction(state_.db());  // synchronous = FULL outside batches
  state_.db().prepare(count_flush).run();
  transaction.commit();
  flushed();
}


std::vector<QueuedObject> Spool::due(std::size_t limit) {
  base::Statement query = state_.db().prepare(
      "SELECT object_id, seq, file_name, size, sha256, signature, created_at, coalesce(upload_url, ''), upload_offset, "
      "attempts, state = 'unconfirmed' FROM objects WHERE state IN ('ready', 'uploading', 'unconfirmed') AND "
      "next_attempt_at <= ?1 ORDER BY seq LIMIT ?2");
  query.bind_all(now_ms(), static_cast<std::uint64_t>(limit));
  std::vector<QueuedObject> out;
  while (query.step()) {
    QueuedObject object;
    object.object_id = query.column_text(0);
    object.seq = static_cast<std::uint64_t>(query.column_int64(1));
    object.file = dir_ / query.column_text(2);
    object.size = static_cast<std::uint64_t>(query.column_int64(3));
    object.sha256 = query.column_text(4);
    object.signature = query.column_blob(5);
    object.created_ms = query.column_int64(6);
    object.upload_url = query.column_text(7);
    object.upload_offset = static_cast<std::uint64_t>(query.column_int64(8));
    object.attempts = static_cast<int>(query.column_int64(9));
    object.unconfirmed = query.column_int64(10) != 0;
    out.push_back(std::move(object));
  }
  return out;
}

void Spool::mark_uploading(std::string_view object_id, std::string_view upload_url) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db()
      .prepare("UPDATE objects SET state = 'uploading', upload_url = ?2, attempts = attempts + 1 WHERE object_id = ?1")
      .bind_all(object_id, upload_url)
      .run();
  transaction.commit();
}

void Spool::record_offset(std::string_view object_id, std::uint64_t offset) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db().prepare("UPDATE objects SET upload_offset = ?2 WHERE object_id = ?1").bind_all(object_id, offset).run();
  transaction.commit();
}

void Spool::reset_upload(std::string_view object_id) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db()
      .prepare("UPDATE objects SET state = 'ready', upload_url = NULL, upload_offset = 0 WHERE object_id = ?1")
      .bind_all(object_id)
      .run();
  transaction.commit();
}

void Spool::record_failure(std::string_view object_id, std::string_view error,
                           std::chrono::system_clock::time_point retry_at) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db()
      .prepare("UPDATE objects SET state = 'ready', last_error = ?2, next_attempt_at = ?3 WHERE object_id = ?1")
      .bind_all(object_id, error,
                std::chrono::duration_cast<std::chrono::milliseconds>(retry_at.time_since_epoch()).count())
      .run();
  transaction.commit();
}

void Spool::mark_rejected(std::string_view object_id, std::string_view reason) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db()
      .prepare("UPDATE objects SET state = 'rejected', last_error = ?2 WHERE object_id = ?1")
      .bind_all(object_id, reason)
      .run();
  transaction.commit();
  logger_.error("spool.object_rejected", "the central refused an object permanently; it is kept in the spool",
                {{"object_id", object_id}, {"reason", reason}});
}

void Spool::mark_delivered(std::string_view object_id, std::string_view receipt_json) {
  base::Database& db = state_.db();
  std::string file_name;
  std::int64_t size = 0;
  {
    QueueWrite transaction(db, batching_);
    base::Statement row = db.prepare("SELECT file_name, size FROM objects WHERE object_id = ?1");
    row.bind_all(object_id);
    if (!row.step()) return;  // already delivered
    file_name = row.column_text(0);
    size = row.column_int64(1);
    db.prepare(
          "INSERT INTO delivered_objects (object_id, seq, size, sha256, created_at, delivered_at, attempts, receipt) "
          "SELECT object_id, seq, size, sha256, created_at, ?2, attempts, ?3 FROM objects WHERE object_id = ?1")
        .bind_all(object_id, now_ms(), receipt_json.empty() ? std::optional<std::string_view>() : receipt_json)
        .run();
    db.prepare("DELETE FROM objects WHERE object_id = ?1").bind_all(object_id).run();
    db.prepare("UPDATE spool_counters SET value = value + 1 WHERE name = 'delivered_objects'").run();
    db.prepare("UPDATE spool_counters SET value = value + ?1 WHERE name = 'delivered_bytes'").bind_all(size).run();
    transaction.commit();
  }
  if (batching_) {
    removals_.push_back(std::move(file_name));  // after a flushed commit
    removal_bytes_ += static_cast<std::uint64_t>(size);
    return;
  }
  // After the commit: a crash here leaves a file without a row, which
  // recover() removes.
  std::error_code ec;
  std::filesystem::remove(dir_ / file_name, ec);
}

void Spool::mark_unconfirmed(std::string_view object_id, std::string_view receipt_json, std::string_view why,
                             std::chrono::system_clock::time_point retry_at) {
  QueueWrite transaction(state_.db(), batching_);
  state_.db()
      .prepare("UPDATE objects SET state = 'unconfirmed', receipt = ?2, last_error = ?3, next_attempt_at = ?4 "
               "WHERE object_id = ?1")
      .bind_all(object_id, receipt_json, why,
                std::chrono::duration_cast<std::chrono::milliseconds>(retry_at.time_since_epoch()).count())
      .run();
  transaction.commit();
}

base::Status Spool::release(std::uint64_t seq) {
  std::string object_id;
  std::string receipt;
  {
    base::Statement row = state_.db().prepare("SELECT object_id, state, coalesce(receipt, '') FROM objects WHERE seq = ?1");
    row.bind_all(seq);
    if (!row.step()) return base::fail("no_such_object", "no object with seq " + std::to_string(seq) + " in the spool");
    if (row.column_text(1) != "unconfirmed") {
      return base::fail("not_unconfirmed", "object " + std::to_string(seq) + " is " + row.column_text(1) +
                                               ", not unconfirmed: only an object whose receipt did not check out "
                                               "can be released");
    }
    object_id = row.column_text(0);
    receipt = row.column_text(2);
  }
  mark_delivered(object_id, receipt);
  logger_.warn("spool.released", "an operator accepted an unconfirmed object as delivered",
               {{"seq", seq}, {"object_id", object_id}});
  return {};
}

base::Status Spool::resend(std::uint64_t seq) {
  base::WriteTransaction transaction(state_.db());
  base::Statement row = state_.db().prepare("SELECT state FROM objects WHERE seq = ?1");
  row.bind_all(seq);
  if (!row.step()) return base::fail("no_such_object", "no object with seq " + std::to_string(seq) + " in the spool");
  const std::string state = row.column_text(0);
  row.reset();
  if (state != "unconfirmed" && state != "rejected") {
    return base::fail("not_resendable", "object " + std::to_string(seq) + " is " + state +
                                            "; only unconfirmed or rejected objects are sent again by hand");
  }
  state_.db()
      .prepare("UPDATE objects SET state = 'ready', upload_url = NULL, upload_offset = 0, receipt = NULL, "
               "next_attempt_at = 0, last_error = NULL WHERE seq = ?1")
      .bind_all(seq)
      .run();
  transaction.commit();
  logger_.warn("spool.resend", "an operator asked for an object to be sent again", {{"seq", seq}});
  return {};
}

std::size_t Spool::prune_history() {
  const std::int64_t cutoff =
      now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(history_retention).count();
  base::WriteTransaction transaction(state_.db());
  state_.db().prepare("DELETE FROM delivered_objects WHERE delivered_at < ?1").bind_all(cutoff).run();
  const auto removed = static_cast<std::size_t>(state_.db().changes());
  transaction.commit();
  return removed;
}

SpoolStats Spool::stats() { return read_spool_stats(state_.db(), dir_, limits_, clock_()); }

SpoolStats read_spool_stats(base::Database& db, const std::filesystem::path& spool_dir, const SpoolLimits& limits,
                            std::chrono::system_clock::time_point now) {
  SpoolStats stats;
  stats.limits = limits;
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  base::Statement states = db.prepare("SELECT state, count(*), coalesce(sum(size), 0), min(created_at) FROM objects GROUP BY state");
  while (states.step()) {
    const std::string state = states.column_text(0);
    const auto count = static_cast<std::uint64_t>(states.column_int64(1));
    const auto bytes = static_cast<std::uint64_t>(states.column_int64(2));
    if (state == "ready") {
      stats.ready_objects = count;
      stats.ready_bytes = bytes;
      stats.oldest_ready_age = std::chrono::milliseconds(std::max<std::int64_t>(0, now_ms - states.column_int64(3)));
    } else if (state == "uploading") {
      stats.uploading_objects = count;
    } else if (state == "rejected") {
      stats.rejected_objects = count;
    } else if (state == "unconfirmed") {
      stats.unconfirmed_objects = count;
    }
    if (state != "lost") stats.spooled_bytes += bytes;
  }
  base::Statement counters = db.prepare("SELECT name, value FROM spool_counters");
  while (counters.step()) {
    const std::string name = counters.column_text(0);
    const auto value = static_cast<std::uint64_t>(counters.column_int64(1));
    if (name == "delivered_objects") stats.delivered_objects = value;
    if (name == "delivered_bytes") stats.delivered_bytes = value;
    if (name == "lost_objects") stats.lost_objects = value;
  }
  stats.last_delivered_ms = db.query_int64("SELECT max(delivered_at) FROM delivered_objects");
  struct statvfs info {};
  if (::statvfs(spool_dir.c_str(), &info) == 0) {
    stats.free_bytes = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  }
  if (stats.spooled_bytes >= limits.max_bytes) {
    stats.capacity = Capacity::spool_full;
  } else if (stats.free_bytes < limits.min_free) {
    stats.capacity = Capacity::disk_low;
  }
  return stats;
}

}  // namespace medgw::spool
