#pragma once
// state_dir/state.db: the gateway's durable state (file index, object queue,
// delivery history). WAL, synchronous=FULL, incremental auto-vacuum, numbered
// migrations compiled into the binary, each applied in its own transaction.
#include <base/log.hpp>
#include <base/sqlite.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::spool {

struct Migration {
  int version;                   // 1, 2, 3 ... without gaps within its component
  std::string_view description;  // shown in the log when applied
  std::string_view sql;
};

// state.db holds the tables of several components (the spool's queue, the
// collectors' file index, ...). Each declares its own numbered migrations
// next to its code, and state.db records how far each component is
// (`schema_versions`), so components grow independently. Append a migration
// with the component's next number; never edit one that has shipped.
struct SchemaComponent {
  std::string_view name;  // "spool", "collectors", ...
  std::span<const Migration> migrations;
};

class Schema {
 public:
  // Throws std::logic_error when a component's numbers are not 1, 2, 3 ...
  // or two components share a name.
  Schema(std::initializer_list<SchemaComponent> components);
  [[nodiscard]] std::span<const SchemaComponent> components() const noexcept { return components_; }
  // The sum of the components' latest versions (status shows it as "schema").
  [[nodiscard]] int latest_version() const noexcept;

 private:
  std::vector<SchemaComponent> components_;
};

// The spool's own migrations (gateway identity, the object queue).
[[nodiscard]] std::span<const Migration> spool_migrations();
inline constexpr std::string_view spool_component = "spool";
// A state.db with the spool's tables only (the spool's own tests and tools).
[[nodiscard]] const Schema& spool_schema();

class StateDbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Brings every component of `schema` up to date, one transaction per
// migration (recording the component's version in the same transaction).
// Before the first migration of a database that had tables, a copy is
// written beside it (VACUUM INTO). Throws StateDbError when a component is
// newer than `schema` knows. Returns the schema version (the sum).
int apply_schema(base::Database& db, const Schema& schema, const log::Logger& logger);

// What a database holds, read without changing it (doctor, diag): each
// component's applied version (legacy user_version numbering understood),
// their sum, and the first component newer than `schema` knows, if any.
struct SchemaState {
  std::map<std::string, int, std::less<>> components;
  int version = 0;
  std::string newer;  // e.g. "spool 4 (this medgw knows up to 3)"; empty when none is
};
[[nodiscard]] SchemaState read_schema_state(base::Database& db, const Schema& schema);

// Sets the pragmas medgw relies on. On a database without tables it first sets
// auto_vacuum=INCREMENTAL, which SQLite only honours before the first table.
void configure_connection(base::Database& db, bool writable);

// PRAGMA quick_check; throws StateDbError naming the first problems found.
void verify_integrity(base::Database& db);

// An exclusive flock on state_dir/lock, held while a process writes the
// state (the daemon, or collect/upload --once): the spool assumes one writer.
class WriterLock {
 public:
  explicit WriterLock(const std::filesystem::path& state_dir);
  WriterLock(WriterLock&& other) noexcept;
  WriterLock& operator=(WriterLock&& other) noexcept;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock();

 private:
  int fd_ = -1;
};

class StateDb {
 public:
  enum class Access { read_write, read_only };
  static constexpr std::string_view file_name = "state.db";

  // read_write takes the writer lock (refusing when another process holds
  // it), creates state_dir (mode 0700) and the database when missing,
  // applies the schema's migrations and runs quick_check. read_only needs an
  // existing database, never changes it, and skips quick_check so that
  // `medgw status` stays fast while the daemon runs. Both refuse a database
  // newer than `schema`.
  [[nodiscard]] static StateDb open(const std::filesystem::path& state_dir, Access access, const log::Logger& logger,
                                    const Schema& schema);

  // Another read-write connection to the same database for a second thread
  // of the process holding the writer lock (WAL: readers never block the
  // writer; writes wait on each other up to busy_timeout).
  [[nodiscard]] StateDb another_connection() const;

  [[nodiscard]] base::Database& db() noexcept { return db_; }
  [[nodiscard]] int schema_version() const noexcept { return schema_version_; }
  // Random per-install identifier (UUIDv7) created with the database.
  [[nodiscard]] const std::string& gateway_id() const noexcept { return gateway_id_; }

  // Ties the state to one facility: records `facility_code` on first use and
  // refuses a different one later (a state_dir copied to another hospital, or
  // a config pointing at the wrong state_dir).
  void bind_facility(std::string_view facility_code);

 private:
  StateDb(base::Database db, int schema_version, std::string gateway_id, std::optional<WriterLock> lock);
  std::optional<WriterLock> lock_;
  base::Database db_;
  int schema_version_;
  std::string gateway_id_;
};

}  // namespace medgw::spool
