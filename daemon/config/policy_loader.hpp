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
  // `known` tells whether a patient ID of the notice register exists in the
  // sources (an unknown one is an error of the register); empty = not checked.
  explicit PolicyLoader(PolicyConfig config, collectors::NoticeRegister::KnownPatient known = {});

  // Re-reads the opt-out list and the notice register if their files changed
  // since the last look. Returns an operator-facing error (FILE:LINE, never a
  // value) when a file cannot be used; the policy in force is then unchanged.
  [[nodiscard]] std::optional<std::string> refresh(std::chrono::system_clock::time_point now);
  // nullptr until a list (or no list: policy.optout_file empty) was loaded.
  // Its `notice` is not set: the collection attaches its NoticeBook.
  [[nodiscard]] std::shared_ptr<const collectors::PatientPolicy> current() const { return current_; }
  // Whether the last refresh() read a new version of the list.
  [[nodiscard]] bool changed() const noexcept { return changed_; }

  // The notice period in force (start empty = off) and the register (empty
  // when none is configured); valid after a successful refresh().
  [[nodiscard]] collectors::NoticeSettings notice_settings() const { return notice_settings_; }
  [[nodiscard]] std::shared_ptr<const collectors::NoticeRegister> notice_register() const { return register_; }
  // SHA-256 (hex) of the files in force, "" when not configured (for the audit).
  [[nodiscard]] const std::string& optout_sha256() const noexcept { return optout_file_.sha256; }
  [[nodiscard]] const std::string& register_sha256() const noexcept { return register_file_.sha256; }

 private:
  struct FileVersion {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };
  struct LoadedFile {
    std::optional<FileVersion> version;
    std::string sha256;
  };
  [[nodiscard]] std::optional<std::string> refresh_register(const std::string& today);

  PolicyConfig config_;
  collectors::NoticeRegister::KnownPatient known_;
  LoadedFile optout_file_;
  LoadedFile register_file_;
  std::string since_;  // as a date, of the last refresh
  std::shared_ptr<const collectors::PatientPolicy> current_;
  std::shared_ptr<const collectors::NoticeRegister> register_;
  collectors::NoticeSettings notice_settings_;
  bool changed_ = false;
};

// The local calendar date of `now`, YYYYMMDD.
[[nodiscard]] std::string local_date(std::chrono::system_clock::time_point now);

// policy.since ("", "YYYY-MM-DD" or "<N>y" before today, local time) as
// YYYYMMDD, or empty.
[[nodiscard]] std::string since_as_date(std::string_view since, std::chrono::system_clock::time_point now);

}  // namespace medgw::daemon
