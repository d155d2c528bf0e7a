#include <base/sqlite.hpp>

#include <sqlite3.h>

namespace medgw::base {
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
  sqlite3_finalize(statement);
}

Statement::Statement(sqlite3* db, sqlite3_stmt* statement, const std::filesystem::path* file)
    : db_(db), statement_(statement), file_(file) {}

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
    : db_(db), file_(std::make_unique<std::filesystem::path>(std::move(file))) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

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
  sqlite3_stmt* statement = nullptr;
  const int result = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  Statement owned(db_.get(), statement, file_.get());
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

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
int Database::changes() const { return sqlite3_changes(db_.get()); }

WriteTransaction::WriteTransaction(Database& db) : db_(db), open_(false) {
  db_.exec("BEGIN IMMEDIATE");
  open_ = true;
}

WriteTransaction::~WriteTransaction() {
  if (!open_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {
    // A failed rollback leaves SQLite to roll back when the connection closes.
  }
}

void WriteTransaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace medgw::base
