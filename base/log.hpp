#pragma once
// Component loggers with key=value fields (logfmt). One LogCore per process,
// built in main and passed down; components get a named Logger from it.
//
// Patient identifiers never go into a field or message: name a patient with
// crypto::PatientTagger's "pt:xxxxxxxx" tag instead (DESIGN.md §7 inv. 5).
#include <atomic>
#include <chrono>
#include <concepts>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::log {

enum class Level : int { debug = 0, info = 1, warn = 2, error = 3 };

[[nodiscard]] std::optional<Level> parse_level(std::string_view text);
[[nodiscard]] std::string_view level_name(Level level);

struct Field {
  std::string_view key;
  std::string value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <std::integral T>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, const std::filesystem::path& v) : key(k), value(v.string()) {}
};

struct Record {
  std::chrono::system_clock::time_point time;
  Level level;
  std::string_view component;
  std::string_view event;  // stable identifier, e.g. "config.reload_failed"
  std::string_view message;
  std::span<const Field> fields;
};

// "level=warn component=config event=... msg=\"...\" key=value ..."; values
// quoted and escaped when needed so that one record is always one line.
[[nodiscard]] std::string format_record(const Record& record, bool with_time);

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const Record& record) = 0;
};

// Writes to stderr without a timestamp (journald adds one). When stderr is the
// journal (JOURNAL_STREAM matches), each line gets an sd-daemon "<N>" priority
// prefix so journalctl -p filters work.
class StderrSink final : public Sink {
 public:
  StderrSink();
  void write(const Record& record) override;

 private:
  bool journal_prefix_;
};

// Appends to a file (mode 0640 when created), with an RFC 3339 timestamp.
class FileSink final : public Sink {
 public:
  explicit FileSink(const std::filesystem::path& file);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(const Record& record) override;

 private:
  int fd_;
};

// Passes on only records at or above its own level (e.g. a quiet terminal
// beside a detailed log file).
class FilteredSink final : public Sink {
 public:
  FilteredSink(Level min_level, std::shared_ptr<Sink> inner) : min_level_(min_level), inner_(std::move(inner)) {}
  void write(const Record& record) override {
    if (record.level >= min_level_.load(std::memory_order_relaxed)) inner_->write(record);
  }
  void set_level(Level level) noexcept { min_level_.store(level, std::memory_order_relaxed); }

 private:
  std::atomic<Level> min_level_;
  std::shared_ptr<Sink> inner_;
};

class LogCore {
 public:
  explicit LogCore(Level min_level) : min_level_(min_level) {}
  void add_sink(std::shared_ptr<Sink> sink);
  void set_level(Level level) noexcept { min_level_.store(level, std::memory_order_relaxed); }
  [[nodiscard]] Level level() const noexcept { return min_level_.load(std::memory_order_relaxed); }
  void write(const Record& record);

 private:
  std::atomic<Level> min_level_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Sink>> sinks_;
};

class Logger {
 public:
  Logger(std::shared_ptr<LogCore> core, std::string component)
      : core_(std::move(core)), component_(std::move(component)) {}

  [[nodiscard]] Logger named(std::string component) const { return Logger(core_, std::move(component)); }
  [[nodiscard]] bool enabled(Level level) const noexcept { return core_ && level >= core_->level(); }
  [[nodiscard]] const std::string& component() const noexcept { return component_; }

  void log(Level level, std::string_view event, std::string_view message,
           std::initializer_list<Field> fields = {}) const;
  void debug(std::string_view event, std::string_view message, std::initializer_list<Field> fields = {}) const {
    log(Level::debug, event, message, fields);
  }
  void info(std::string_view event, std::string_view message, std::initializer_list<Field> fields = {}) const {
    log(Level::info, event, message, fields);
  }
  void warn(std::string_view event, std::string_view message, std::initializer_list<Field> fields = {}) const {
    log(Level::warn, event, message, fields);
  }
  void error(std::string_view event, std::string_view message, std::initializer_list<Field> fields = {}) const {
    log(Level::error, event, message, fields);
  }

 private:
  std::shared_ptr<LogCore> core_;
  std::string component_;
};

}  // namespace medgw::log
