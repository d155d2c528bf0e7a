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
#include <stdexcept>
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
  // The temporary file (complete once written; a remote repository sends it).
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return temporary_; }

 private:
  std::filesystem::path temporary_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  crypto::Sha256 hash_;
  bool published_ = false;
};

// The layout's names, relative to the repository's root: a folder
// repository's paths, a remote repository's URL paths.
[[nodiscard]] std::string pack_name_in_layout(std::string_view pack);         // packs/<2 hex>/<32 hex>
[[nodiscard]] std::string snapshot_name_in_layout(std::string_view snapshot);   // snapshots/<id>.age
[[nodiscard]] std::string pack_list_name_in_layout(std::string_view snapshot);  // snapshots/<id>.packs

// A failure of a repository that is not a file system's (the central's
// backup endpoint refused or could not be reached): ends the run with it.
struct RepositoryFailure : std::runtime_error {
  explicit RepositoryFailure(base::Error e) : std::runtime_error(e.message), error(std::move(e)) {}
  base::Error error;
};

// A backup run's hold on the repository (repository_lock.hpp): retention
// stays out while it lives.
class RunLease {
 public:
  virtual ~RunLease() = default;
  // Renews it (called as the run works; does something at most once a minute).
  virtual void refresh() = 0;
};

// Where a backup run writes: a folder (FolderRepository) or the central's
// write-once backup endpoint (RemoteRepository). Write and exist only: the
// gateway never reads a repository back but its config, and never deletes.
class RepositoryTarget {
 public:
  virtual ~RepositoryTarget() = default;
  // The folder or the URL, for messages (names no patient).
  [[nodiscard]] virtual std::string where() const = 0;
  [[nodiscard]] virtual base::Result<std::optional<RepositoryConfig>> read_config() const = 0;
  [[nodiscard]] virtual base::Status prepare() const = 0;
  [[nodiscard]] virtual std::unique_ptr<NewFile> new_file() const = 0;
  // Makes a complete new file durable under `name` (a layout name), never
  // replacing one: std::system_error (errc::file_exists, ENOSPC...) or
  // RepositoryFailure.
  virtual void publish(NewFile& file, const std::string& name) const = 0;
  // The size of the file `name`, nullopt when there is none.
  [[nodiscard]] virtual std::optional<std::uint64_t> file_size(const std::string& name) const = 0;
  // Removes what an interrupted run left being written (never a named file).
  virtual void remove_temporaries() const = 0;
  [[nodiscard]] virtual base::Result<std::unique_ptr<RunLease>> lease_for_run() const = 0;
};

class FolderRepository final : public RepositoryTarget {
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
  [[nodiscard]] base::Result<std::optional<RepositoryConfig>> read_config() const override;
  // Creates the folders (not the root: it must exist, a mounted disk).
  [[nodiscard]] base::Status prepare() const override;
  [[nodiscard]] std::unique_ptr<NewFile> new_file() const override;
  // Removes tmp/'s leftovers of an interrupted run (never a named file).
  void remove_temporaries() const override;
  [[nodiscard]] std::string where() const override { return root_.string(); }
  void publish(NewFile& file, const std::string& name) const override;
  [[nodiscard]] std::optional<std::uint64_t> file_size(const std::string& name) const override;
  [[nodiscard]] base::Result<std::unique_ptr<RunLease>> lease_for_run() const override;
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
