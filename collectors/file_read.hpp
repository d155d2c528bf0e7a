#pragma once
// The tree feed's read of one file (tree_feed_changes.cpp decides what to
// read; this reads it): opened below the source's root, read to its end,
// hashed, checked by the source's profile, filtered for the opt-out list and,
// when it is large, compressed into a spill for its object - all in one read
// - and looked at again (size, times, inode) to see it did not change meanwhile.
#include <collectors/optout_filter.hpp>
#include <collectors/source_profile.hpp>
#include <collectors/tree_feed.hpp>

#include <spool/content_spill.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <atomic>
#include <optional>
#include <string>

namespace medgw::collectors {

// The source's root, and a descriptor of it (-1 where it could not be
// opened): a file is opened relative to it, so the kernel looks up only the
// components below the root (a third of an SS-MIX2 file's open was the walk
// of its full path).
struct SourceRoot {
  std::string path;
  int fd = -1;
};

// One file read (small: its bytes; large: only hashed) and looked at again.
struct FileRead {
  enum class Status { ok, unreadable, changed } status = Status::ok;
  int error = 0;             // errno when unreadable
  std::string content;       // small files only
  std::string sha256;        // raw 32 bytes
  std::optional<Analysis> analysis;  // filled by the read-ahead
  // With an opt-out filter: what it did, and the copy that would be sent.
  std::optional<FilterResult> filtered;
  std::string filtered_content;  // small files only
  std::string filtered_sha256;   // raw
  std::uint64_t filtered_size = 0;
  // Large files: what is sent (the filtered copy, or the file), compressed
  // during this read, so the object builder need not read the file again.
  std::shared_ptr<const spool::SpilledContent> spilled;
};

// Reads a file and analyses it with the source's profile: small files from
// their bytes, large ones with the profile's streaming check (fed while
// hashing) or from their path alone. A large file is compressed into a spill
// in `spill_folder` as it is read.
[[nodiscard]] FileRead read_and_analyze(const SourceProfile& profile, const SourceRoot& root, const ScanRow& row,
                                        std::uint64_t in_memory_limit,
                                        const std::shared_ptr<const PatientPolicy>& policy,
                                        const std::filesystem::path& spill_folder);
// The same, of a file already open (`fd`, left open): a first collection's
// walk opens it where it holds its folder (TreeWalker::walk_open).
[[nodiscard]] FileRead read_and_analyze_open(const SourceProfile& profile, int fd, const ScanRow& row,
                                             std::uint64_t in_memory_limit,
                                             const std::shared_ptr<const PatientPolicy>& policy,
                                             const std::filesystem::path& spill_folder);

// Files read ahead of their turn, by the walk's threads: their bytes in
// memory and how many large ones (each holding a spill on disk) are bounded
// together; a file over the bounds is read at its turn instead.
class ReadAheadBudget {
 public:
  ReadAheadBudget(std::uint64_t bytes, std::size_t large_files) : bytes_left_(bytes), large_left_(large_files) {}
  // False when the file would exceed the budget (nothing taken). Lock-free:
  // every file of a first collection passes here.
  bool take(std::uint64_t bytes, bool large);
  void give_back(std::uint64_t bytes, bool large);

 private:
  std::atomic<std::uint64_t> bytes_left_;
  std::atomic<std::uint64_t> large_left_;
};

// A file the walk read (TreeWalker::walk_open's work): its read, and its
// share of the budget until it is dropped.
class PreparedRead final : public FileWork {
 public:
  PreparedRead(std::shared_ptr<ReadAheadBudget> budget, std::uint64_t bytes, bool large)
      : budget_(std::move(budget)), bytes_(bytes), large_(large) {}
  ~PreparedRead() override { budget_->give_back(bytes_, large_); }
  [[nodiscard]] std::size_t bytes() const override {
    return sizeof(*this) + read.content.capacity() + read.filtered_content.capacity() +
           (read.analysis ? read.analysis->meta_json.capacity() + read.analysis->patient_id.capacity() : 0);
  }

  FileRead read;

 private:
  std::shared_ptr<ReadAheadBudget> budget_;
  std::uint64_t bytes_;
  bool large_;
};

}  // namespace medgw::collectors
