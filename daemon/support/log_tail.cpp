#include <daemon/support/log_tail.hpp>

#include <daemon/support/process.hpp>

#include <base/unique_fd.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

int number(std::string_view text, std::size_t at, std::size_t count) {
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Keeps redacted lines newest first until the budget is spent.
class Collector {
 public:
  Collector(const LogLimits& limits, const Redactor& redactor) : limits_(limits), redactor_(redactor) {}

  // False when no older line is wanted (out of the window or of the budget).
  bool add(std::string_view line) {
    if (line.empty()) return true;
    if (const auto when = line_time(line); when && *when < limits_.since) return false;
    std::string redacted = redactor_.line(line);
    if (kept_ + redacted.size() + 1 > limits_.budget) {
      cut_ = true;
      return false;
    }
    kept_ += redacted.size() + 1;
    newest_first_.push_back(std::move(redacted));
    return true;
  }

  void finish(LogExcerpt& excerpt) {
    excerpt.text.reserve(kept_);
    for (auto line = newest_first_.rbegin(); line != newest_first_.rend(); ++line) {
      excerpt.text += *line;
      excerpt.text.push_back('\n');
    }
    excerpt.lines = newest_first_.size();
    excerpt.cut = excerpt.cut || cut_;
  }

 private:
  const LogLimits& limits_;
  const Redactor& redactor_;
  std::vector<std::string> newest_first_;
  std::size_t kept_ = 0;
  bool cut_ = false;
};

}  // namespace

std::optional<std::chrono::system_clock::time_point> line_time(std::string_view line) {
  if (line.starts_with("time=")) line.remove_prefix(5);
  if (line.size() < 19 || line[4] != '-' || line[7] != '-' || (line[10] != 'T' && line[10] != ' ') || line[13] != ':' ||
      line[16] != ':') {
    return std::nullopt;
  }
  std::tm when{};
  when.tm_year = number(line, 0, 4) - 1900;
  when.tm_mon = number(line, 5, 2) - 1;
  when.tm_mday = number(line, 8, 2);
  when.tm_hour = number(line, 11, 2);
  when.tm_min = number(line, 14, 2);
  when.tm_sec = number(line, 17, 2);
  if (when.tm_year < 0 || when.tm_mon < 0 || when.tm_mday < 0 || when.tm_hour < 0 || when.tm_min < 0 || when.tm_sec < 0) {
    return std::nullopt;
  }
  std::size_t at = 19;
  if (at < line.size() && line[at] == '.') {
    ++at;
    while (at < line.size() && line[at] >= '0' && line[at] <= '9') ++at;
  }
  long offset = 0;
  if (at < line.size() && (line[at] == '+' || line[at] == '-')) {
    const int hours = number(line, at + 1, 2);
    const std::size_t minutes_at = at + 3 < line.size() && line[at + 3] == ':' ? at + 4 : at + 3;
    const int minutes = number(line, minutes_at, 2);
    if (hours < 0 || minutes < 0) return std::nullopt;
    offset = (line[at] == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
  } else if (at >= line.size() || line[at] != 'Z') {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(::timegm(&when) - offset);
}

LogExcerpt tail_log_file(const std::filesystem::path& file, const LogLimits& limits, const Redactor& redactor) {
  LogExcerpt excerpt;
  base::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) {
    excerpt.status = "cannot read " + file.string() + ": " + std::strerror(errno);
    return excerpt;
  }
  excerpt.available = true;
  excerpt.status = "available";
  Collector collector(limits, redactor);
  constexpr std::size_t block = 1u << 20;
  std::vector<char> buffer;
  std::string carry;  // the start of a line whose beginning is in an earlier block
  auto position = static_cast<std::uint64_t>(info.st_size);
  bool more = true;
  while (more && position > 0 && excerpt.bytes_read < limits.max_read) {
    const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(block, position));
    position -= size;
    buffer.resize(size);
    const ssize_t got = ::pread(fd.get(), buffer.data(), size, static_cast<off_t>(position));
    if (got != static_cast<ssize_t>(size)) {
      excerpt.status = "read error in " + file.string() + " (it may have been rotated meanwhile)";
      break;
    }
    excerpt.bytes_read += size;
    std::string_view view(buffer.data(), size);
    // Complete lines of this block, from the last; what precedes the first
    // newline continues in the previous block.
    std::string tail(view);
    tail += carry;
    std::string_view lines(tail);
    while (more) {
      const auto newline = lines.find_last_of('\n');
      if (newline == std::string_view::npos) break;
      more = collector.add(lines.substr(newline + 1));
      lines = lines.substr(0, newline);
    }
    carry = std::string(lines);
  }
  if (more && position == 0) {
    collector.add(carry);
  } else if (more && !carry.empty()) {
    excerpt.cut = true;  // stopped by max_read
  }
  collector.finish(excerpt);
  return excerpt;
}

LogExcerpt tail_journal(std::string_view unit, const LogLimits& limits, const Redactor& redactor) {
  LogExcerpt excerpt;
  const auto since = std::chrono::duration_cast<std::chrono::seconds>(limits.since.time_since_epoch()).count();
  const ProgramRun run = run_program({"journalctl", "-u", std::string(unit), "--since", "@" + std::to_string(since),
                                      "--no-pager", "--quiet", "--no-hostname", "--reverse", "-o", "short-iso-precise"},
                                     limits.max_read, limits.deadline);
  if (!run.started) {
    excerpt.status = "journalctl is not installed";
    return excerpt;
  }
  if (!run.truncated && !run.timed_out && run.exit_status != 0) {
    excerpt.status = "journalctl failed (exit status " + std::to_string(run.exit_status) + ")";
    return excerpt;
  }
  excerpt.available = true;
  excerpt.status = run.timed_out ? "available (journalctl stopped at the deadline)" : "available";
  excerpt.bytes_read = run.output.size();
  Collector collector(limits, redactor);
  std::string_view rest(run.output);
  bool more = true;
  while (more && !rest.empty()) {
    const auto newline = rest.find('\n');
    // A last line cut by the read cap is incomplete: left out.
    if (newline == std::string_view::npos && run.truncated) break;
    more = collector.add(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  }
  excerpt.cut = run.truncated && more;
  collector.finish(excerpt);
  return excerpt;
}

}  // namespace medgw::daemon
