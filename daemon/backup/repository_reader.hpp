#pragma once
// Reading a backup repository back, with the recovery identity - on any
// machine, never needed by the gateway (which holds recipients only). The
// API for restore, verify and `export-media --from backup`: list the
// snapshots, list a snapshot's files (streamed, in path order per volume),
// and stream one file's bytes.
#include <daemon/backup/pack.hpp>
#include <backupstore/repository.hpp>
#include <daemon/backup/snapshot.hpp>

#include <crypto/age.hpp>

#include <deque>

namespace medgw::backup {

// age identities from identity files (mode 0600, as `medgw decrypt` wants).
[[nodiscard]] base::Result<crypto::age::Identities> load_identities(const std::vector<std::filesystem::path>& files);

class RepositoryReader {
 public:
  // Opens the repository and decrypts its secret with `identities`.
  [[nodiscard]] static base::Result<RepositoryReader> open(const std::filesystem::path& root,
                                                           crypto::age::Identities identities);

  [[nodiscard]] const RepositoryConfig& config() const noexcept { return config_; }
  [[nodiscard]] const FolderRepository& repository() const noexcept { return repository_; }
  [[nodiscard]] const crypto::age::Identities& identities() const noexcept { return identities_; }
  [[nodiscard]] base::ByteView secret() const noexcept { return secret_; }

  // Visible snapshots, oldest first.
  [[nodiscard]] std::vector<std::string> snapshots() const { return repository_.snapshot_ids(); }
  // "latest" or an id (or a unique prefix of one).
  [[nodiscard]] base::Result<std::string> resolve(std::string_view snapshot) const;

  // Every file of the snapshot, streamed (see read_snapshot).
  [[nodiscard]] SnapshotReadResult list(std::string_view snapshot, const SnapshotVisitor& visitor) const {
    return read_snapshot(repository_, snapshot, identities_, visitor);
  }

  // Writes the file's content to `out`, blob by blob, each checked against its
  // keyed id. Fails (pack_damaged, pack_missing, blob_damaged) naming the
  // pack, never the file.
  [[nodiscard]] base::Status read_file(const FileEntry& file, base::ByteSink& out);

  // "pt:" + 8 hex of a keyed hash (the repository secret's), for naming a
  // patient in restore and verify reports.
  [[nodiscard]] std::string patient_tag(std::string_view patient_id) const;

 private:
  RepositoryReader(FolderRepository repository, RepositoryConfig config, crypto::age::Identities identities,
                   std::vector<std::uint8_t> secret);
  const OpenPack& pack(const std::string& name);

  FolderRepository repository_;
  RepositoryConfig config_;
  crypto::age::Identities identities_;
  std::vector<std::uint8_t> secret_;
  std::deque<OpenPack> cache_;  // most recent first; a few packs of ~16-20 MiB
};

// The patient a path of a by-patient volume belongs to (pid[0:3]/pid[3:6]/pid/...), or empty.
[[nodiscard]] std::string_view patient_of(std::string_view path);

}  // namespace medgw::backup
