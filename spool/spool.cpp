// Spool: building and committing objects, capacity.
#include <spool/spool.hpp>

#include <crypto/uuid.hpp>

#include <array>
#include <cstdio>
#include <system_error>

#include <sys/stat.h>
#include <sys/statvfs.h>

namespace medgw::spool {
namespace {

std::string object_file_name(std::uint64_t seq, const std::string& object_id) {
  std::array<char, 32> number{};
  std::snprintf(number.data(), number.size(), "%012llu", static_cast<unsigned long long>(seq));
  return std::string(number.data()) + "-" + object_id + ".age";
}

BuildStatus status_of(BuildError error) {
  switch (error) {
    case BuildError::disk_full: return BuildStatus::disk_full;
    case BuildError::source_changed: return BuildStatus::source_changed;
    case BuildError::source_unreadable: return BuildStatus::source_unreadable;
    case BuildError::io_error: return BuildStatus::failed;
  }
  return BuildStatus::failed;
}

}  // namespace

std::string_view capacity_name(Capacity capacity) {
  switch (capacity) {
    case Capacity::ok: return "ok";
    case Capacity::spool_full: return "spool_full";
    case Capacity::disk_low: return "disk_low";
  }
  return "ok";
}

std::string_view build_status_name(BuildStatus status) {
  switch (status) {
    case BuildStatus::committed: return "committed";
    case BuildStatus::spool_full: return "spool_full";
    case BuildStatus::disk_low: return "disk_low";
    case BuildStatus::disk_full: return "disk_full";
    case BuildStatus::source_changed: return "source_changed";
    case BuildStatus::source_unreadable: return "source_unreadable";
    case BuildStatus::failed: return "failed";
  }
  return "failed";
}

Spool::Spool(StateDb& state, std::filesystem::path dir, SpoolLimits limits, SpoolIdentity identity, log::Logger logger,
             Clock clock)
    : state_(state),
      dir_(std::move(dir)),
      limits_(limits),
      identity_(std::move(identity)),
      logger_(std::move(logger)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); })) {
  if (identity_.signer == nullptr) throw std::invalid_argument("spool needs a signing key");
  if (identity_.recipients.empty()) throw std::invalid_argument("spool needs at least one recipient");
  std::error_code ec;
  if (std::filesystem::create_directories(dir_, ec)) ::chmod(dir_.c_str(), 0750);
  if (ec) throw std::system_error(ec, "cannot create the spool folder " + dir_.string());
}

void Spool::set_recipients(std::vector<crypto::X25519PublicKey> recipients) {
  if (recipients.empty()) throw std::invalid_argument("spool needs at least one recipient");
  identity_.recipients = std::move(recipients);
}

std::int64_t Spool::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_().time_since_epoch()).count();
}

std::uint64_t Spool::spooled_bytes() {
  return static_cast<std::uint64_t>(
      state_.db().query_int64("SELECT coalesce(sum(size), 0) FROM objects WHERE state != 'lost'").value_or(0));
}

Capacity Spool::capacity(std::uint64_t upcoming) {
  const std::uint64_t spooled = spooled_bytes();
  // An object larger than spool.max_bytes by itself is let into an empty spool
  // (the disk check below still holds): refused, it would keep its source
  // paused for ever. The spool then reads as full until it is delivered.
  const bool alone_oversized = spooled == 0 && upcoming > limits_.max_bytes;
  if (spooled + upcoming > limits_.max_bytes && !alone_oversized) return Capacity::spool_full;
  struct statvfs info {};
  if (::statvfs(dir_.c_str(), &info) == 0) {
    const std::uint64_t free = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
    if (free < limits_.min_free + upcoming) return Capacity::disk_low;
  }
  return Capacity::ok;
}

BuildOutcome Spool::build(std::span<const ObjectEntry> entries, const Record& record_rows) {
  auto planned = plan(entries);
  if (auto* refused = std::get_if<BuildOutcome>(&planned)) return std::move(*refused);
  const Plan& object = std::get<Plan>(planned);
  return record(object, write(object, entries), record_rows);
}

std::variant<Spool::Plan, BuildOutcome> Spool::plan(std::span<const ObjectEntry> entries) {
  BuildOutcome outcome;
  if (entries.empty()) {
    outcome.message = "an object needs at least one entry";
    return outcome;
  }
  std::uint64_t content = 0;
  for (const ObjectEntry& entry : entries) content += entry.has_content() ? entry.size : 0;
  // Compression may grow incompressible data a little; leave headroom.
  const std::uint64_t estimate = content + content / 64 + entries.size() * 1024 + (64 << 10);
  switch (capacity(estimate)) {
    case Capacity::spool_full:
      outcome.status = BuildStatus::spool_full;
      outcome.message = "the spool holds spool.max_bytes; collection waits for uploads";
      return outcome;
    case Capacity::disk_low:
      outcome.status = BuildStatus::disk_low;
      outcome.message = "free space on the state filesystem is below spool.min_free";
      return outcome;
    case Capacity::ok: break;
  }
  if (estimate > limits_.max_bytes) {
    logger_.warn("spool.oversized_object",
                 "an object larger than spool.max_bytes is spooled on its own; raise spool.max_bytes above the "
                 "largest source file",
                 {{"estimate_bytes", estimate}, {"max_bytes", limits_.max_bytes}});
  }

  base::Database& db = state_.db();
  const auto seq = static_cast<std::uint64_t>(db.query_int64("SELECT next_seq FROM gateway").value_or(1));
  const auto now = clock_();
  Plan planned{ObjectHeader{crypto::uuid_v7(now), seq, identity_.facility, identity_.gateway, now}, "", {}, {},
               identity_.recipients, entries.size()};
  planned.file_name = object_file_name(seq, planned.header.object_id);
  planned.file = dir_ / planned.file_name;
  // A zstd worker thread pays off only for large objects (a large file gets
  // an object of its own); small batches compress faster on one thread.
  std::uint64_t to_compress = content;
  for (const ObjectEntry& entry : entries) to_compress -= entry.spilled ? entry.size : 0;  // compressed already
  planned.options.zstd_workers = to_compress > (32ULL << 20) ? 1 : 0;
  return planned;
}

Spool::Written Spool::write(const Plan& plan, std::span<const ObjectEntry> entries) {
  return build_object(plan.file, plan.header, entries, plan.recipients, plan.options);
}

void Spool::drop(const Plan& plan) noexcept {
  std::error_code ec;
  std::filesystem::remove(plan.file, ec);
}

BuildOutcome Spool::record(const Plan& plan, Written written, const Record& record_rows) {
  BuildOutcome outcome;
  if (auto* failure = std::get_if<BuildFailure>(&written)) {
    outcome.status = status_of(failure->code);
    outcome.entry = failure->entry;
    outcome.message = std::move(failure->message);
    return outcome;
  }
  const BuiltObject& object = std::get<BuiltObject>(written);
  const std::uint64_t seq = plan.header.seq;
  const std::string statement = crypto::object_statement(plan.header.object_id, seq, identity_.facility, object.sha256);
  const crypto::Ed25519Signature signature = identity_.signer->sign(base::as_bytes(statement));
  CommittedObject committed{plan.header.object_id, seq, plan.file_name, object.size, object.sha256, object.content_bytes,
                            plan.entries};
  base::Database& db = state_.db();
  try {
    base::WriteTransaction transaction(db);
    const auto current = static_cast<std::uint64_t>(db.query_int64("SELECT next_seq FROM gateway").value_or(0));
    if (current != seq) throw std::logic_error("object sequence moved during a build (two writers?)");
    db.prepare(
          "INSERT INTO objects (object_id, seq, file_name, size, content_bytes, entries, sha256, signature, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        .bind_all(committed.object_id, seq, plan.file_name, object.size, object.content_bytes,
                  static_cast<std::uint64_t>(plan.entries), object.sha256, std::span<const std::uint8_t>(signature),
                  std::chrono::duration_cast<std::chrono::milliseconds>(plan.header.created.time_since_epoch()).count())
        .run();
    db.prepare("UPDATE gateway SET next_seq = ?1").bind_all(seq + 1).run();
    if (record_rows) record_rows(db, committed);
    transaction.commit();
  } catch (const base::SqliteError& error) {
    // Not recorded: the file must not outlive the failed commit.
    drop(plan);
    if (!error.disk_full()) throw;
    // The disk filled between the object and its row: the same condition as
    // ENOSPC while building, and just as clean.
    outcome.status = BuildStatus::disk_full;
    outcome.message = "no space left to record the object in state.db";
    return outcome;
  } catch (...) {
    drop(plan);
    throw;
  }
  logger_.info("spool.object_committed", "object spooled",
               {{"seq", seq}, {"object_id", committed.object_id}, {"entries", plan.entries},
                {"bytes", object.size}, {"content_bytes", object.content_bytes}});
  outcome.status = BuildStatus::committed;
  outcome.object = std::move(committed);
  return outcome;
}

}  // namespace medgw::spool
