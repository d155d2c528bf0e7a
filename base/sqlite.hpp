#pragma once
// Thin RAII layer over the SQLite C API: a Database, prepared Statements and
// a WriteTransaction that always starts with BEGIN IMMEDIATE (so a writer
// never fails half-way with SQLITE_BUSY on lock upgrade).
//
// Database::prepare keeps what it compiled: a Statement, when destroyed,
// goes back to its connection reset and with its bindings cleared, and the
// next prepare() of the same SQL text takes it instead of compiling again
// (compiling was a good part of the CPU of a short transaction).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace medgw::base {

class StatementCache;

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  // Primary result code (SQLITE_FULL, SQLITE_BUSY, ...), extended code masked off.
  [[nodiscard]] int code() const noexcept { return code_ & 0xFF; }
  [[nodiscard]] int extended_code() const noexcept { return code_; }
  [[nodiscard]] bool disk_full() const noexcept;

 private:
  int code_;
};

class Statement {
 public:
  // `cache`: where the statement goes back to when destroyed (finalized
  // without one), under the SQL text `sql` (a key the cache holds).
  Statement(sqlite3* db, sqlite3_stmt* statement, const std::filesystem::path* file,
            std::shared_ptr<StatementCache> cache = nullptr, const std::string* sql = nullptr);
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, std::uint64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::span<const std::uint8_t> blob);
  Statement& bind(int index, std::nullopt_t);
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }
  // Binds arguments to ?1, ?2, ... in order.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Returns true when a row is available, false when the statement is done.
  [[nodiscard]] bool step();
  // Steps to completion, for statements that return no rows.
  void run();
  void reset();

  [[nodiscard]] bool is_null(int column) const;
  [[nodiscard]] std::int64_t column_int64(int column) const;
  [[nodiscard]] double column_double(int column) const;
  [[nodiscard]] std::string column_text(int column) const;
  [[nodiscard]] std::vector<std::uint8_t> column_blob(int column) const;

 private:
  struct Finalizer {
    std::shared_ptr<StatementCache> cache;
    const std::string* sql = nullptr;
    void operator()(sqlite3_stmt* statement) const noexcept;
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> statement_;
  const std::filesystem::path* file_;
};

class Database {
 public:
  enum class Mode { read_write_create, read_write, read_only };

  [[nodiscard]] static Database open(const std::filesystem::path& file, Mode mode);

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Runs one or more statements that return no rows.
  void exec(std::string_view sql);
  [[nodiscard]] Statement prepare(std::string_view sql);
  // First column of the first row, or nullopt when there is no row / NULL.
  [[nodiscard]] std::optional<std::int64_t> query_int64(std::string_view sql);
  [[nodiscard]] std::optional<std::string> query_text(std::string_view sql);

  // The write-ahead log's file (the database in WAL mode).
  [[nodiscard]] std::filesystem::path wal_file() const;

  [[nodiscard]] std::int64_t last_insert_rowid() const;
  [[nodiscard]] int changes() const;
  [[nodiscard]] sqlite3* handle() const noexcept { return db_.get(); }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return *file_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept;
  };
  Database(sqlite3* db, std::filesystem::path file);
  void close_cache() noexcept;
  std::unique_ptr<sqlite3, Closer> db_;
  // Heap-held so Statements can keep a stable pointer for error messages.
  std::unique_ptr<std::filesystem::path> file_;
  // Shared with the Statements out, which may be destroyed after the
  // Database (they are finalized then).
  std::shared_ptr<StatementCache> cache_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit()ed.
class WriteTransaction {
 public:
  explicit WriteTransaction(Database& db);
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  ~WriteTransaction();
  void commit();

 private:
  Database& db_;
  bool open_;
};

// For a database in WAL mode committing with synchronous=NORMAL: makes every
// transaction committed so far durable, as synchronous=FULL does at each
// commit - by flushing the write-ahead log (fdatasync), its folder's entry
// for it as well when `with_folder`. It takes no database lock: other
// commits go on meanwhile. What a checkpoint moved out of the log is durable
// already (with synchronous=NORMAL SQLite flushes the log before and the
// database after a checkpoint, and only then reuses the log). Throws
// std::system_error.
void flush_wal(const std::filesystem::path& wal_file, bool with_folder);

// Throws SqliteError for a non-OK result code with a message naming the file
// and, for the common failures, what the operator should do.
void check_sqlite(sqlite3* db, int result, std::string_view action, const std::filesystem::path& file);

}  // namespace medgw::base
