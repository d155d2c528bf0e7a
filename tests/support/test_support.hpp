#pragma once
// Shared fixtures: the public test data, temporary folders, log capture.
#include <base/log.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace medgw::test {

// ../shared/testdata (or $MEDGW_TESTDATA). Fails the test, never skips it,
// when the public test data cannot be found.
[[nodiscard]] std::filesystem::path testdata_dir();
[[nodiscard]] std::filesystem::path source_dir();
[[nodiscard]] std::filesystem::path binary_dir();

[[nodiscard]] std::string read_file(const std::filesystem::path& file);
void write_file(const std::filesystem::path& file, std::string_view content);

// A fresh folder under $TMPDIR, removed with its content at scope exit.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A log sink that keeps formatted lines and can wait for one to appear.
class LogCapture final : public log::Sink {
 public:
  void write(const log::Record& record) override;
  [[nodiscard]] std::vector<std::string> lines() const;
  [[nodiscard]] std::string text() const;
  [[nodiscard]] bool contains(std::string_view needle) const;
  // True when a line containing `needle` appears within `timeout`.
  bool wait_for(std::string_view needle, std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

// A logger writing into `capture` at debug level.
[[nodiscard]] log::Logger capture_logger(std::shared_ptr<LogCapture> capture, std::string component = "test");

}  // namespace medgw::test
