#pragma once
// The patient-level policy in force, built from the config: the opt-out list
// (policy.optout_file, re-read when the file changes) and the collection
// window (policy.since as a date). A list that cannot be read or parsed
// leaves the previous one in force; before any list was read, nothing may be
// collected (a missing or broken list must never mean "nobody opted out").
#include <daemon/config/config.hpp>

#include <collectors/policy.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace medgw::daemon {

class PolicyLoader {
 public:
  explicit PolicyLoader(PolicyConfig config);

  // Re-reads the list if its file changed since the last look. Returns an
  // operator-facing error (file and line, never a value) when the file cannot
  // be used; the policy in force is then unchanged.
  [[nodiscard]] std::optional<std::string> refresh(std::chrono::system_clock::time_point now);
  // nullptr until a list (or no list: policy.optout_file empty) was loaded.
  [[nodiscard]] std::shared_ptr<const collectors::PatientPolicy> current() const { return current_; }
  // Whether the last refresh() read a new version of the list.
  [[nodiscard]] bool changed() const noexcept { return changed_; }

 private:
  struct FileVersion {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };
  PolicyConfig config_;
  std::optional<FileVersion> loaded_version_;
  std::string since_;  // as a date, of the last refresh
  std::shared_ptr<const collectors::PatientPolicy> current_;
  bool changed_ = false;
};

// policy.since ("", "YYYY-MM-DD" or "<N>y" before today, local time) as
// YYYYMMDD, or empty.
[[nodiscard]] std::string since_as_date(std::string_view since, std::chrono::system_clock::time_point now);

}  // namespace medgw::daemon
