#include <base/sqlite.hpp>

#include <base/unique_fd.hpp>

#include <sqlite3.h>

#include <cerrno>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::base {

// The idle prepared statements of one connection, by SQL text. Bounded: SQL
// texts beyond `max_texts` (statements built at run time) and copies beyond
// `max_idle_per_text` are finalized rather than kept.
class StatementCache {
 public:
  static constexpr std::size_t max_texts = 256;
  static constexpr std::size_t max_idle_per_text = 4;

  // An idle statement for `sql`, or nullptr; `key` is set to the cache's own
  // copy of the text (nullptr when the cache keeps no more texts).
  sqlite3_stmt* take(std::string_view sql, const std::string*& key) {
    std::lock_guard lock(mutex_);
    key = nullptr;
    if (closed_) return nullptr;
    auto found = idle_.find(sql);
    if (found == idle_.end()) {
      if (idle_.size() >= max_texts) return nullptr;
      found = idle_.emplace(std::string(sql), std::vector<sqlite3_stmt*>()).first;
    }
    key = &found->first;
    if (found->second.empty()) return nullptr;
    sqlite3_stmt* statement = found->second.back();
    found->second.pop_back();
    return statement;
  }

  // Takes back a statement that is out (reset by the caller); finalizes it
  // when it is not kept.
  void give_back(const std::string& sql, sqlite3_stmt* statement) noexcept {
    {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        auto found = idle_.find(std::string_view(sql));
        if (found != idle_.end() && found->second.size() < max_idle_per_text) {
          try {
            found->second.push_back(statement);
            return;
          } catch (...) {
            // no memory: finalized below
          }
        }
      }
    }
    sqlite3_finalize(statement);
  }

  // Before the connection closes: every idle statement is finalized; those
  // still out are finalized when given back.
  void close() noexcept {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [sql, statements] : idle_) {
      for (sqlite3_stmt* statement : statements) sqlite3_finalize(statement);
      statements.clear();
    }
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  std::mutex mutex_;
  bool closed_ = false;
  // Keys are never erased, so a Statement may hold a pointer to its text.
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, Hash, std::equal_to<>> idle_;
};

namespace {

std::string advice_for(int primary_code) {
  switch (primary_code) {
    case SQLITE_FULL:
      return "; the disk holding the state database is full: free space there";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "; the state database is damaged: stop medgw and restore state.db from backup "
             "(see docs/operations.md)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return "; check that the file and its folder exist and that the medgw user may write them";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "; another process holds the database lock for too long";
    case SQLITE_IOERR:
      return "; the storage reported an I/O error: check the disk (dmesg)";
    default:
      return {};
  }
}

}  // namespace

bool SqliteError::disk_full() const noexcept { return code() == SQLITE_FULL; }

void check_sqlite(sqlite3* db, int result, std::string_view action, const std::filesystem::path& file) {
  if (result == SQLITE_OK || result == SQLITE_ROW || result == SQLITE_DONE) return;
  std::string message = std::string(action) + " failed on " + file.string() + ": ";
  message += (db != nullptr) ? sqlite3_errmsg(db) : sqlite3_errstr(result);
  message += advice_for(result & 0xFF);
  throw SqliteError(result, message);
}

void Statement::Finalizer::operator()(sqlite3_stmt* statement) const noexcept {
  if (cache == nullptr || sql == nullptr) {
    sqlite3_finalize(statement);
    return;
  }
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  cache->give_back(*sql, statement);
}

Statement::Statement(sqlite3* db, sqlite3_stmt* statement, const std::filesystem::path* file,
                     std::shared_ptr<StatementCache> cache, const std::string* sql)
    : db_(db), statement_(statement, Finalizer{std::move(cache), sql}), file_(file) {}

Statement& Statement::bind(int index, std::int64_t value) {
  check_sqlite(db_, sqlite3_bind_int64(statement_.get(), index, value), "bind", *file_);
  return *this;
}

Statement& Statement::bind(int index, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(INT64_MAX)) {
    throw SqliteError(SQLITE_RANGE, "value out of range for SQLite integer");
  }
  return bind(index, static_cast<std::int64_t>(value));
}

Statement& Statement::bind(int index, double value) {
  check_sqlite(db_, sqlite3_bind_double(statement_.get(), index, value), "bind", *file_);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  check_sqlite(db_,
               sqlite3_bind_text64(statement_.get(), index, value.data(), value.size(),
                                   SQLITE_TRANSIENT, SQLITE_UTF8),
               "bind", *file_);
  return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> blob) {
  static const std::uint8_t empty = 0;
  check_sqlite(db_,
               sqlite3_bind_blob64(statement_.get(), index, blob.empty() ? &empty : blob.data(),
                                   blob.size(), SQLITE_TRANSIENT),
               "bind", *file_);
  return *this;
}

Statement& Statement::bind(int index, std::nullopt_t) {
  check_sqlite(db_, sqlite3_bind_null(statement_.get(), index), "bind", *file_);
  return *this;
}

bool Statement::step() {
  const int result = sqlite3_step(statement_.get());
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  sqlite3_reset(statement_.get());
  check_sqlite(db_, result, "query", *file_);
  return false;
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(statement_.get(), column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(statement_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::vector<std::uint8_t> Statement::column_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement_.get(), column));
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (data == nullptr) return {};
  return std::vector<std::uint8_t>(data, data + size);
}

void Database::Closer::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

Database::Database(sqlite3* db, std::filesystem::path file)
    : db_(db), file_(std::make_unique<std::filesystem::path>(std::move(file))), cache_(std::make_shared<StatementCache>()) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close_cache();
    db_ = std::move(other.db_);
    file_ = std::move(other.file_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}
Database::~Database() { close_cache(); }

void Database::close_cache() noexcept {
  if (cache_ != nullptr) cache_->close();
}

Database Database::open(const std::filesystem::path& file, Mode mode) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  switch (mode) {
    case Mode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case Mode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case Mode::read_only: flags |= SQLITE_OPEN_READONLY; break;
  }
  sqlite3* raw = nullptr;
  const int result = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Database db(raw, file);  // owns raw even on failure
  check_sqlite(raw, result, "opening the database", file);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int result = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &error);
  sqlite3_free(error);
  check_sqlite(db_.get(), result, "statement", *file_);
}

Statement Database::prepare(std::string_view sql) {
  const std::string* key = nullptr;
  if (sqlite3_stmt* kept = cache_->take(sql, key)) return Statement(db_.get(), kept, file_.get(), cache_, key);
  sqlite3_stmt* statement = nullptr;
  const int result = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  // A failed compile is not kept (statement is null then).
  Statement owned(db_.get(), statement, file_.get(), result == SQLITE_OK ? cache_ : nullptr, key);
  check_sqlite(db_.get(), result, "preparing a statement", *file_);
  return owned;
}

std::optional<std::int64_t> Database::query_int64(std::string_view sql) {
  Statement statement = prepare(sql);
  if (!statement.step() || statement.is_null(0)) return std::nullopt;
  return statement.column_int64(0);
}

std::optional<std::string> Database::query_text(std::string_view sql) {
  Statement statement = prepare(sql);
  if (!statement.step() || statement.is_null(0)) return std::nullopt;
  return statement.column_text(0);
}

std::filesystem::path Database::wal_file() const {
  const char* main = sqlite3_db_filename(db_.get(), "main");
  if (main == nullptr || *main == '\0') throw std::logic_error("a database without a file has no write-ahead log");
  return sqlite3_filename_wal(main);
}

void flush_wal(const std::filesystem::path& wal_file, bool with_folder) {
  auto flush = [](const std::filesystem::path& path, bool data_only) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || (data_only ? ::fdatasync(fd.get()) : ::fsync(fd.get())) != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot flush " + path.string());
    }
  };
  flush(wal_file, true);
  if (with_folder) flush(wal_file.parent_path().empty() ? std::filesystem::path(".") : wal_file.parent_path(), false);
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
int Database::changes() const { return sqlite3_changes(db_.get()); }

WriteTransaction::WriteTransaction(Database& db) : db_(db), open_(false) {
  db_.prepare("BEGIN IMMEDIATE").run();
  open_ = true;
}

WriteTransaction::~WriteTransaction() {
  if (!open_) return;
  try {
    db_.prepare("ROLLBACK").run();
  } catch (...) {
    // A failed rollback leaves SQLite to roll back when the connection closes.
  }
}

void WriteTransaction::commit() {
  db_.prepare("COMMIT").run();
  open_ = false;
}

}  // namespace medgw::base
