#include <base/log.hpp>

#include <base/json.hpp>
#include <base/time_format.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::log {
using base::append_json_string;
using base::is_valid_utf8;
using base::rfc3339_local_micros;
namespace {

bool needs_quotes(std::string_view value) {
  if (value.empty() || !is_valid_utf8(value)) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F) return true;
  }
  return false;
}

// Plain when it is a single safe word; otherwise a JSON string literal, which
// logfmt readers accept and which keeps one record on one line (control
// characters escaped, bytes that are not UTF-8 replaced).
void append_value(std::string& out, std::string_view value) {
  if (needs_quotes(value)) {
    append_json_string(out, value);
  } else {
    out.append(value);
  }
}

int syslog_priority(Level level) {
  switch (level) {
    case Level::debug: return 7;
    case Level::info: return 6;
    case Level::warn: return 4;
    case Level::error: return 3;
  }
  return 6;
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat info {};
  if (::fstat(STDERR_FILENO, &info) != 0) return false;
  return info.st_dev == device && info.st_ino == inode;
}

void write_fully(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log sink
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.3f", v);
  value = text.data();
}

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

std::string format_record(const Record& record, bool with_time) {
  std::string out;
  out.reserve(160);
  if (with_time) {
    out.append("time=");
    out.append(rfc3339_local_micros(record.time));
    out.push_back(' ');
  }
  out.append("level=");
  out.append(level_name(record.level));
  out.append(" component=");
  append_value(out, record.component);
  if (!record.event.empty()) {
    out.append(" event=");
    append_value(out, record.event);
  }
  out.append(" msg=");
  append_value(out, record.message);
  for (const Field& field : record.fields) {
    out.push_back(' ');
    out.append(field.key);
    out.push_back('=');
    append_value(out, field.value);
  }
  return out;
}

StderrSink::StderrSink() : journal_prefix_(stderr_is_journal()) {}

void StderrSink::write(const Record& record) {
  std::string line;
  if (journal_prefix_) {
    line = "<" + std::to_string(syslog_priority(record.level)) + ">";
  }
  line += format_record(record, false);
  line.push_back('\n');
  write_fully(STDERR_FILENO, line);
}

FileSink::FileSink(const std::filesystem::path& file)
    : fd_(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) {
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot open log file " + file.string() +
                                " (check that its folder exists and the service user may write it)");
  }
}

FileSink::~FileSink() { ::close(fd_); }

void FileSink::write(const Record& record) {
  std::string line = format_record(record, true);
  line.push_back('\n');
  write_fully(fd_, line);  // O_APPEND: one write() per line keeps lines whole
}

void LogCore::add_sink(std::shared_ptr<Sink> sink) {
  std::lock_guard lock(mutex_);
  sinks_.push_back(std::move(sink));
}

void LogCore::write(const Record& record) {
  std::lock_guard lock(mutex_);
  for (auto& sink : sinks_) sink->write(record);
}

void Logger::log(Level level, std::string_view event, std::string_view message,
                 std::initializer_list<Field> fields) const {
  if (!enabled(level)) return;
  Record record{std::chrono::system_clock::now(), level, component_, event, message,
                std::span<const Field>(fields.begin(), fields.size())};
  core_->write(record);
}

}  // namespace medgw::log
