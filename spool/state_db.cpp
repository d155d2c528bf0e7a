#include <spool/state_db.hpp>

#include <crypto/uuid.hpp>

#include <base/time_format.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <system_error>

#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::spool {
namespace {

int latest_version(std::span<const Migration> migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

}  // namespace

Schema::Schema(std::initializer_list<std::span<const Migration>> components) {
  for (std::span<const Migration> component : components) all_.insert(all_.end(), component.begin(), component.end());
  std::sort(all_.begin(), all_.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 0; i < all_.size(); ++i) {
    if (all_[i].version != static_cast<int>(i) + 1) {
      throw std::logic_error("state.db migrations: version " + std::to_string(all_[i].version) + " (" +
                             std::string(all_[i].description) + ") where " + std::to_string(i + 1) +
                             " was expected: two components use one number, or one is missing");
    }
  }
}

const Schema& spool_schema() {
  static const Schema schema{spool_migrations()};
  return schema;
}

void configure_connection(base::Database& db, bool writable) {
  db.exec("PRAGMA busy_timeout = 10000");
  db.exec("PRAGMA foreign_keys = ON");
  // Sorts and statement journals stay in memory: SQLite's temporary files
  // would otherwise land in /var/tmp holding patient paths (invariant 5).
  db.exec("PRAGMA temp_store = MEMORY");
  if (!writable) return;
  const bool empty = db.query_int64("SELECT count(*) FROM sqlite_schema").value_or(0) == 0;
  if (empty) db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  // journal_mode is persistent in the file; synchronous is per connection.
  const auto mode = db.query_text("PRAGMA journal_mode = WAL");
  if (mode != "wal") {
    throw StateDbError(db.file().string() +
                       ": cannot switch to WAL journal mode (the filesystem may not support it; "
                       "keep state_dir on a local disk)");
  }
  db.exec("PRAGMA synchronous = FULL");
}

void verify_integrity(base::Database& db) {
  base::Statement check = db.prepare("PRAGMA quick_check(5)");
  std::string problems;
  while (check.step()) {
    std::string line = check.column_text(0);
    if (line == "ok") return;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  throw StateDbError(db.file().string() + " failed its integrity check (" + problems +
                     "); stop medgw and restore state.db from backup (docs/operations.md)");
}

void apply_migrations(base::Database& db, std::span<const Migration> migrations, const log::Logger& logger) {
  const int current = static_cast<int>(db.query_int64("PRAGMA user_version").value_or(0));
  const int latest = latest_version(migrations);
  if (current > latest) {
    throw StateDbError(db.file().string() + " has schema version " + std::to_string(current) +
                       " but this medgw knows only up to " + std::to_string(latest) +
                       "; it was written by a newer medgw. Install that version again, or restore "
                       "the state.db backup taken before the upgrade");
  }
  if (current > 0 && current < latest) {
    // An upgrade: keep a copy of the database as it was (VACUUM INTO writes
    // a consistent snapshot), so a failed upgrade can be rolled back.
    const std::filesystem::path backup =
        db.file().parent_path() /
        (db.file().filename().string() + ".schema" + std::to_string(current) + "-" +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()) +
         ".bak");
    db.prepare("VACUUM INTO ?1").bind_all(backup.string()).run();
    ::chmod(backup.c_str(), 0600);
    logger.info("statedb.backup", "copied the database before upgrading its schema",
                {{"file", backup.string()}, {"from", current}, {"to", latest}});
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= current) continue;
    base::WriteTransaction transaction(db);
    // Re-read inside the write lock: another process may have migrated meanwhile.
    const int now = static_cast<int>(db.query_int64("PRAGMA user_version").value_or(0));
    if (migration.version <= now) continue;
    if (migration.version != now + 1) {
      throw StateDbError("internal error: migration " + std::to_string(migration.version) +
                         " does not follow schema version " + std::to_string(now));
    }
    db.exec(migration.sql);
    db.exec("PRAGMA user_version = " + std::to_string(migration.version));
    transaction.commit();
    logger.info("statedb.migrated", "applied state database migration",
                {{"version", migration.version}, {"what", migration.description}});
  }
}

WriterLock::WriterLock(const std::filesystem::path& state_dir) {
  const std::filesystem::path file = state_dir / "lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + file.string());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw StateDbError("another medgw process is using " + state_dir.string() +
                         " (the service, or a collect/upload --once); stop it first (systemctl stop medgw)");
    }
    throw std::system_error(error, std::generic_category(), "cannot lock " + file.string());
  }
}

WriterLock::WriterLock(WriterLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

WriterLock& WriterLock::operator=(WriterLock&& other) noexcept {
  std::swap(fd_, other.fd_);
  return *this;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

StateDb::StateDb(base::Database db, int schema_version, std::string gateway_id, std::optional<WriterLock> lock)
    : lock_(std::move(lock)), db_(std::move(db)), schema_version_(schema_version), gateway_id_(std::move(gateway_id)) {}

StateDb StateDb::open(const std::filesystem::path& state_dir, Access access, const log::Logger& logger,
                      const Schema& schema) {
  const std::filesystem::path file = state_dir / file_name;
  if (access == Access::read_only) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      throw StateDbError(file.string() + " does not exist yet; it is created by the first "
                                         "`medgw run` or `medgw collect --once`");
    }
    base::Database db = base::Database::open(file, base::Database::Mode::read_only);
    configure_connection(db, false);
    const int version = static_cast<int>(db.query_int64("PRAGMA user_version").value_or(0));
    if (version > schema.latest_version()) {
      throw StateDbError(file.string() + " was written by a newer medgw (schema version " +
                         std::to_string(version) + "); use that version's medgw to read it");
    }
    std::string gateway = version >= 1 ? db.query_text("SELECT gateway_id FROM gateway").value_or("")
                                       : std::string();
    return StateDb(std::move(db), version, std::move(gateway), std::nullopt);
  }

  std::error_code ec;
  if (std::filesystem::create_directories(state_dir, ec)) {
    ::chmod(state_dir.c_str(), 0700);
  } else if (ec) {
    throw std::system_error(ec, "cannot create state_dir " + state_dir.string());
  }
  WriterLock lock(state_dir);
  base::Database db = base::Database::open(file, base::Database::Mode::read_write_create);
  configure_connection(db, true);
  verify_integrity(db);
  apply_migrations(db, schema.migrations(), logger);

  {
    base::WriteTransaction transaction(db);
    db.prepare("INSERT OR IGNORE INTO gateway (singleton, gateway_id, created_at) VALUES (1, ?1, ?2)")
        .bind_all(crypto::uuid_v7(std::chrono::system_clock::now()), base::rfc3339_utc(std::chrono::system_clock::now()))
        .run();
    transaction.commit();
  }
  const int version = static_cast<int>(db.query_int64("PRAGMA user_version").value_or(0));
  std::string gateway = db.query_text("SELECT gateway_id FROM gateway").value_or("");
  return StateDb(std::move(db), version, std::move(gateway), std::move(lock));
}

StateDb StateDb::another_connection() const {
  if (!lock_) throw StateDbError("another_connection needs a state opened read_write");
  base::Database db = base::Database::open(db_.file(), base::Database::Mode::read_write);
  configure_connection(db, true);
  return StateDb(std::move(db), schema_version_, gateway_id_, std::nullopt);
}

void StateDb::bind_facility(std::string_view facility_code) {
  base::WriteTransaction transaction(db_);
  auto stored = db_.query_text("SELECT facility_code FROM gateway");
  if (stored && *stored != facility_code) {
    throw StateDbError(db_.file().string() + " belongs to facility " + *stored +
                       " but the config says facility.code " + std::string(facility_code) +
                       "; point state_dir at this facility's own folder");
  }
  if (!stored) {
    db_.prepare("UPDATE gateway SET facility_code = ?1").bind_all(facility_code).run();
  }
  transaction.commit();
}

}  // namespace medgw::spool
