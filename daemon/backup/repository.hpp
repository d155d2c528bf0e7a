#pragma once
// A backup repository in a folder (a NAS mount, a USB disk), write-once:
//
//   config                       clear: format, repository id, the gateway's signing key
//   keys/<id>.age                the repository secret, age-encrypted to the recipients
//   packs/<2 hex>/<32 hex>       blobs: zstd frames, then age (recipients)
//   snapshots/<id>.age           a snapshot's file list, zstd then age
//   snapshots/<id>.packs         clear: the packs the snapshot needs, signed by the gateway
//   tmp/                         files being written (not part of the repository)
//
// Every file is written to tmp/, fsynced, and only then given its name, which
// never replaces an existing file (renameat2 RENAME_NOREPLACE, else link);
// the folder is fsynced after. A snapshot is visible once snapshots/<id>.age
// exists, and that is written last: after every pack and the pack list.
#include <base/byte_sink.hpp>
#include <base/result.hpp>

#include <crypto/hash.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace medgw::backup {

struct RepositoryConfig {
  std::string id;       // UUIDv7
  std::string created;  // RFC 3339
  std::string gateway_key;  // "ed25519:<base64>": who signs the pack lists
};
[[nodiscard]] std::string repository_config_text(const RepositoryConfig& config);
[[nodiscard]] std::optional<RepositoryConfig> parse_repository_config(std::string_view text);

// A file being written into the repository: counts and hashes what it is
// given; publish() makes it durable under its name, or the temporary file is
// removed when the object is dropped.
class NewFile final : public base::ByteSink {
 public:
  NewFile(const std::filesystem::path& temporary_folder);
  NewFile(const NewFile&) = delete;
  NewFile& operator=(const NewFile&) = delete;
  ~NewFile() override;

  void write(base::ByteView bytes) override;
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  // The SHA-256 of everything written; call once, before publish().
  [[nodiscard]] crypto::Digest256 finish_hash();
  // fsync, then link to `target` (never replacing a file: errc::file_exists),
  // then fsync target's folder. Throws std::system_error.
  void publish(const std::filesystem::path& target);

 private:
  std::filesystem::path temporary_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  crypto::Sha256 hash_;
  bool published_ = false;
};

class FolderRepository {
 public:
  explicit FolderRepository(std::filesystem::path root) : root_(std::move(root)) {}

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  [[nodiscard]] std::filesystem::path config_file() const { return root_ / "config"; }
  [[nodiscard]] std::filesystem::path secret_file(std::string_view repository_id) const;
  [[nodiscard]] std::filesystem::path pack_file(std::string_view pack) const;
  [[nodiscard]] std::filesystem::path snapshot_file(std::string_view snapshot) const;
  [[nodiscard]] std::filesystem::path pack_list_file(std::string_view snapshot) const;

  // The repository's config, nullopt when there is none yet (a failure when
  // it cannot be read or is not a medgw repository).
  [[nodiscard]] base::Result<std::optional<RepositoryConfig>> read_config() const;
  // Creates the folders (not the root: it must exist, a mounted disk).
  [[nodiscard]] base::Status prepare() const;
  [[nodiscard]] std::unique_ptr<NewFile> new_file() const;
  // Removes tmp/'s leftovers of an interrupted run (never a named file).
  void remove_temporaries() const;
  // Snapshot ids with snapshots/<id>.age (visible ones) or, with
  // `with_pack_lists`, also those that have only a pack list; sorted.
  [[nodiscard]] std::vector<std::string> snapshot_ids(bool with_pack_lists = false) const;

 private:
  std::filesystem::path root_;
};

// An error from the filesystem as a Result failure: disk_full for ENOSPC and
// EDQUOT, else io_error; `what` names the repository file kind (never a
// source path).
[[nodiscard]] base::Error repository_error(const std::system_error& error, std::string_view what);

}  // namespace medgw::backup
