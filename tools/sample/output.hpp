#pragma once
// Writes generated files fast: one open/write/futimens/close per file and a
// per-thread cache of folders already created.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>

namespace medgw::sample {

struct WriteTotals {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t folders = 0;
  WriteTotals& operator+=(const WriteTotals& other) {
    files += other.files;
    bytes += other.bytes;
    folders += other.folders;
    return *this;
  }
};

class FileWriter;

// A file written in pieces (large claim exports), so memory stays flat.
class StreamedFile {
 public:
  StreamedFile(FileWriter& writer, std::string_view relative);
  StreamedFile(const StreamedFile&) = delete;
  StreamedFile& operator=(const StreamedFile&) = delete;
  ~StreamedFile();
  void append(std::string_view bytes);
  void close(std::int64_t mtime_unix_seconds);

 private:
  FileWriter& writer_;
  std::filesystem::path path_;
  int fd_;
  std::uint64_t bytes_ = 0;
};

class FileWriter {
 public:
  explicit FileWriter(std::filesystem::path root) : root_(std::move(root)) {}

  // `relative` uses '/' separators. Throws std::system_error naming the path.
  void write(std::string_view relative, std::string_view content, std::int64_t mtime_unix_seconds);
  void ensure_folder(std::string_view relative);

  [[nodiscard]] const WriteTotals& totals() const noexcept { return totals_; }
  void count_file(std::uint64_t bytes) {
    ++totals_.files;
    totals_.bytes += bytes;
  }
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

 private:
  std::filesystem::path root_;
  std::unordered_set<std::string> made_;
  WriteTotals totals_;
};

}  // namespace medgw::sample
