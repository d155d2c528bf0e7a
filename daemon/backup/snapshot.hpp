#pragma once
// A snapshot: the list of every file backed up in one run, as lines of text,
// zstd-compressed and age-encrypted (paths name patients):
//
//   medgw-backup-snapshot/1 \t <id> \t <created> \t <facility> \t <gateway id>
//   V \t <index> \t <label> \t <by patient 0|1> \t <source type>  one per volume
//   F \t <volume> \t <size> \t <mtime ns> \t <mode octal> \t <escaped path> \t <blob ref>,...
//   E \t <files> \t <bytes>                                      the end (absent: truncated)
//
// Beside it, in clear, the pack list that retention needs without any key:
//
//   medgw-backup-packs/1
//   snapshot <id> / repository <id> / created <time> / files <n> / bytes <n>
//   snapshot_file <size> <sha256>                    of snapshots/<id>.age
//   pack <name> <size> <sha256>                      one per pack it needs
//   signature <base64 Ed25519 over every line before this one>
#include <daemon/backup/format.hpp>
#include <backupstore/pack_list.hpp>
#include <backupstore/repository.hpp>

#include <crypto/age.hpp>
#include <crypto/signing.hpp>

#include <functional>
#include <map>
#include <memory>
#include <span>

namespace medgw::backup {

struct SnapshotHeader {
  std::string id;
  std::string created;
  std::string facility;
  std::string gateway_id;
  std::vector<VolumeInfo> volumes;
};

class SnapshotWriter {
 public:
  SnapshotWriter(const RepositoryTarget& repository, std::span<const crypto::X25519PublicKey> recipients,
                 const SnapshotHeader& header);
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;
  ~SnapshotWriter();

  void add(const FileEntry& file);
  // Ends the list; the file is complete but not yet published.
  void finish();
  [[nodiscard]] std::uint64_t files() const noexcept { return files_; }
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::uint64_t file_size() const noexcept { return file_->size(); }
  [[nodiscard]] const crypto::Digest256& file_sha256() const noexcept { return sha256_; }
  // snapshots/<id>.age: the snapshot is visible from here.
  void publish(std::string_view id) { repository_.publish(*file_, snapshot_name_in_layout(id)); }

 private:
  void put(std::string_view line, bool end);
  const RepositoryTarget& repository_;
  std::unique_ptr<NewFile> file_;
  std::unique_ptr<crypto::age::Encryptor> encryptor_;
  struct Compressor;
  std::unique_ptr<Compressor> compressor_;
  std::uint64_t files_ = 0;
  std::uint64_t bytes_ = 0;
  crypto::Digest256 sha256_{};
};

// Reads a snapshot, line by line, streaming. Stops at the first problem and
// says what it is (a damaged or truncated file: the lines before it were
// authentic and have been handed on).
struct SnapshotVisitor {
  std::function<void(const SnapshotHeader& header)> on_header;
  std::function<void(std::uint64_t index, const FileEntry& file)> on_file;  // index: 1-based entry number
};
struct SnapshotReadResult {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  bool complete = false;  // the end line was read and matched
  std::string problem;    // empty when complete
};
[[nodiscard]] SnapshotReadResult read_snapshot(const FolderRepository& repository, std::string_view id,
                                               const crypto::age::Identities& identities,
                                               const SnapshotVisitor& visitor);

}  // namespace medgw::backup
