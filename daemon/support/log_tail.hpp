#pragma once
// The recent log for a support bundle: the lines of the last hours, newest
// kept when there are too many, each through the redactor. A log file is
// read backwards from its end (a 1 GiB log costs what is kept, not 1 GiB);
// the journal is asked newest first and stopped once enough has been read.
#include <daemon/support/redactor.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::daemon {

struct LogExcerpt {
  std::string text;         // redacted lines, oldest first, each ending in '\n'
  std::string status;       // "available", or why not ("not configured", "cannot read: ...")
  bool available = false;
  std::uint64_t lines = 0;
  bool cut = false;         // older lines of the window were left out (size cap)
  std::uint64_t bytes_read = 0;
};

struct LogLimits {
  std::chrono::system_clock::time_point since;  // older lines are left out
  std::size_t budget = 10u << 20;               // bytes of redacted text kept
  std::size_t max_read = 256u << 20;            // bytes read at most, whatever the redaction keeps
  std::chrono::milliseconds deadline{15'000};   // for the journal
};

// The time a line starts with: medgw's "time=2026-01-02T03:04:05.123456+09:00 ..."
// or the journal's "2026-01-02T03:04:05.123456+0900 host ...".
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> line_time(std::string_view line);

[[nodiscard]] LogExcerpt tail_log_file(const std::filesystem::path& file, const LogLimits& limits,
                                       const Redactor& redactor);
// journalctl -u UNIT, when journalctl exists.
[[nodiscard]] LogExcerpt tail_journal(std::string_view unit, const LogLimits& limits, const Redactor& redactor);

}  // namespace medgw::daemon
