#pragma once
// One backup run (`medgw backup run`, the daemon's schedule): walk every
// source folder, store what is new as blobs in packs, write the snapshot.
//
// Order that keeps the repository consistent whatever instant the process
// dies at: each pack is published (fsynced, named, folder fsynced) before
// backup.db records its blobs and the files that use them; the snapshot's
// pack list is published after every pack it names, and the snapshot file
// last. An interrupted run leaves packs no snapshot names yet (the next run
// uses their blobs, as backup.db knows them) and temporaries in tmp/.
#include <daemon/backup/format.hpp>
#include <daemon/backup/remote_repository.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/signing.hpp>

#include <base/log.hpp>
#include <base/result.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace medgw::daemon {
struct Config;
}

namespace medgw::backup {

struct BackupSource {
  std::string label;            // the pass label: "ssmix2", "ssmix2-ext", "dpc"
  std::filesystem::path root;
  bool by_patient = false;
  std::string type;             // sources[].type
};

struct BackupSettings {
  std::filesystem::path state_dir;
  std::filesystem::path repository;       // a folder repository, or
  std::optional<RemoteSettings> remote;   // the central's backup endpoint (backup.repository: https://…)
  std::vector<crypto::X25519PublicKey> recipients;
  std::string facility;
  const crypto::SigningKey* signer = nullptr;
  std::vector<BackupSource> sources;
};

// The settings of a validated config (the folders of its sources' passes).
// Fails when backup.repository is not set.
[[nodiscard]] base::Result<BackupSettings> backup_settings(const daemon::Config& config,
                                                           const crypto::SigningKey& signer);

struct BackupProgress {
  std::uint64_t files_seen = 0;
  std::uint64_t files_read = 0;   // new or changed: read and stored
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_added = 0;  // age bytes written to the repository
};

struct BackupReport {
  std::string snapshot;
  std::uint64_t files = 0;  // in the snapshot
  std::uint64_t bytes = 0;
  BackupProgress progress;
  std::uint64_t packs_written = 0;
  std::uint64_t unreadable = 0;  // files or folders that could not be read (not in the snapshot)
  std::uint64_t vanished = 0;
  std::uint64_t changed_while_read = 0;
};

using ProgressCallback = std::function<void(const BackupProgress& progress)>;

// `stop` (if given) ends the run between two files (code "interrupted"):
// nothing is lost, the next run goes on from what is durable.
[[nodiscard]] base::Result<BackupReport> run_backup(const BackupSettings& settings, const log::Logger& logger,
                                                    const ProgressCallback& progress = {},
                                                    const std::atomic<bool>* stop = nullptr);

}  // namespace medgw::backup
