#include <spool/state_db.hpp>

#include <crypto/uuid.hpp>

#include <base/time_format.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <set>
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

int newest(std::span<const Migration> steps) {
  return steps.empty() ? 0 : steps.back().version;
}

// Databases made before the per-component versions counted one sequence in
// user_version: the spool's 1-2, then the collectors' 1-2 as 3-4.
constexpr std::array<std::pair<std::string_view, int>, 2> legacy_sequence{{{"spool", 2}, {"collectors", 2}}};
// user_version from now on: above any legacy value, so an older medgw
// refuses this database as newer instead of misreading it.
constexpr int per_component_marker = 100;

bool table_exists(base::Database& db, std::string_view name) {
  base::Statement query = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  query.bind_all(name);
  return query.step();
}

std::map<std::string, int, std::less<>> component_versions(base::Database& db) {
  std::map<std::string, int, std::less<>> versions;
  if (table_exists(db, "schema_versions")) {
    base::Statement rows = db.prepare("SELECT component, version FROM schema_versions");
    while (rows.step()) versions[rows.column_text(0)] = static_cast<int>(rows.column_int64(1));
    return versions;
  }
  int legacy = static_cast<int>(db.query_int64("PRAGMA user_version").value_or(0));
  for (const auto& [component, count] : legacy_sequence) {
    const int applied = std::min(legacy, count);
    if (applied > 0) versions[std::string(component)] = applied;
    legacy -= applied;
  }
  return versions;
}

// Creates schema_versions from the legacy user_version (once).
void adopt_per_component_versions(base::Database& db) {
  base::WriteTransaction transaction(db);
  if (table_exists(db, "schema_versions")) return;
  const auto versions = component_versions(db);
  db.exec("CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT");
  for (const auto& [component, version] : versions) {
    db.prepare("INSERT INTO schema_versions (component, version) VALUES (?1, ?2)").bind_all(component, version).run();
  }
  db.exec("PRAGMA user_version = " + std::to_string(per_component_marker));
  transaction.commit();
}

void refuse_newer(const std::filesystem::path& file, const Schema& schema,
                  const std::map<std::string, int, std::less<>>& versions) {
  for (const SchemaComponent& component : schema.components()) {
    const auto found = versions.find(component.name);
    const int latest = newest(component.migrations);
    if (found != versions.end() && found->second > latest) {
      throw StateDbError(file.string() + " has schema version " + std::to_string(found->second) + " of " +
                         std::string(component.name) + " but this medgw knows only up to " + std::to_string(latest) +
                         "; it was written by a newer medgw. Install that version again, or restore the state.db "
                         "backup taken before the upgrade");
    }
  }
}

int version_sum(const std::map<std::string, int, std::less<>>& versions) {
  int sum = 0;
  for (const auto& [component, version] : versions) sum += version;
  return sum;
}

// An upgrade: keep a copy of the database as it was (VACUUM INTO writes a
// consistent snapshot), so a failed upgrade can be rolled back.
void copy_before_upgrade(base::Database& db, int from, const log::Logger& logger) {
  const std::filesystem::path backup =
      db.file().parent_path() /
      (db.file().filename().string() + ".schema" + std::to_string(from) + "-" +
       std::to_string(
           std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()) +
       ".bak");
  db.prepare("VACUUM INTO ?1").bind_all(backup.string()).run();
  ::chmod(backup.c_str(), 0600);
  logger.info("statedb.backup", "copied the database before upgrading its schema", {{"file", backup.string()}, {"from", from}});
}

}  // namespace

Schema::Schema(std::initializer_list<SchemaComponent> components) : components_(components) {
  std::set<std::string_view> names;
  for (const SchemaComponent& component : components_) {
    if (!names.insert(component.name).second) {
      throw std::logic_error("state.db schema: component " + std::string(component.name) + " is listed twice");
    }
    for (std::size_t i = 0; i < component.migrations.size(); ++i) {
      if (component.migrations[i].version != static_cast<int>(i) + 1) {
        throw std::logic_error("state.db schema: " + std::string(component.name) + " migration " +
                               std::to_string(component.migrations[i].version) + " (" +
                               std::string(component.migrations[i].description) + ") where " + std::to_string(i + 1) +
                               " was expected");
      }
    }
  }
}

int Schema::latest_version() const noexcept {
  int sum = 0;
  for (const SchemaComponent& component : components_) sum += newest(component.migrations);
  return sum;
}

const Schema& spool_schema() {
  static const Schema schema{{spool_component, spool_migrations()}};
  return schema;
}

SchemaState read_schema_state(base::Database& db, const Schema& schema) {
  SchemaState state;
  state.components = component_versions(db);
  state.version = version_sum(state.components);
  for (const SchemaComponent& component : schema.components()) {
    const auto found = state.components.find(component.name);
    const int latest = newest(component.migrations);
    if (found != state.components.end() && found->second > latest) {
      state.newer = std::string(component.name) + " " + std::to_string(found->second) + " (this medgw knows up to " +
                    std::to_string(latest) + ")";
      break;
    }
  }
  return state;
}

int apply_schema(base::Database& db, const Schema& schema, const log::Logger& logger) {
  const bool had_tables = db.query_int64("SELECT count(*) FROM sqlite_schema").value_or(0) > 0;
  auto versions = component_versions(db);
  refuse_newer(db.file(), schema, versions);
  bool pending = false;
  for (const SchemaComponent& component : schema.components()) {
    const auto found = versions.find(component.name);
    pending = pending || (found == versions.end() ? 0 : found->second) < newest(component.migrations);
  }
  if (!pending && had_tables) return version_sum(versions);
  if (had_tables && version_sum(versions) > 0) copy_before_upgrade(db, version_sum(versions), logger);
  adopt_per_component_versions(db);
  for (const SchemaComponent& component : schema.components()) {
    for (const Migration& migration : component.migrations) {
      base::WriteTransaction transaction(db);
      // Re-read inside the write lock: another process may have migrated meanwhile.
      base::Statement current = db.prepare("SELECT version FROM schema_versions WHERE component = ?1");
      current.bind_all(component.name);
      const int now = current.step() ? static_cast<int>(current.column_int64(0)) : 0;
      current.reset();
      if (migration.version <= now) continue;
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_versions (component, version) VALUES (?1, ?2) "
                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version")
          .bind_all(component.name, migration.version)
          .run();
      transaction.commit();
      logger.info("statedb.migrated", "applied state database migration",
                  {{"component", component.name}, {"version", migration.version}, {"what", migration.description}});
    }
  }
  return version_sum(component_versions(db));
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
    const auto versions = component_versions(db);
    try {
      refuse_newer(file, schema, versions);
    } catch (const StateDbError&) {
      throw StateDbError(file.string() + " was written by a newer medgw; use that version's medgw to read it");
    }
    std::string gateway = table_exists(db, "gateway") ? db.query_text("SELECT gateway_id FROM gateway").value_or("")
                                                      : std::string();
    return StateDb(std::move(db), version_sum(versions), std::move(gateway), std::nullopt);
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
  const int version = apply_schema(db, schema, logger);

  {
    base::WriteTransaction transaction(db);
    db.prepare("INSERT OR IGNORE INTO gateway (singleton, gateway_id, created_at) VALUES (1, ?1, ?2)")
        .bind_all(crypto::uuid_v7(std::chrono::system_clock::now()), base::rfc3339_utc(std::chrono::system_clock::now()))
        .run();
    transaction.commit();
  }
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
