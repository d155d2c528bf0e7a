#pragma once
// What the gateway remembers of its backups, in state_dir/backup/ (0700):
// backup.db (its own SQLite file, component "backup" of a spool::Schema,
// numbered migrations) and the repository secret (<repository id>.key, 0600).
// backup.db records, for the bound repository only, every blob and pack
// already durable there and every file backed up with its stat and blobs, so
// an unchanged file is neither read nor sent again. The gateway never reads
// the repository back: it holds recipients only.
#include <daemon/backup/format.hpp>
#include <daemon/backup/snapshot.hpp>

#include <spool/state_db.hpp>

#include <base/log.hpp>
#include <base/sqlite.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>

namespace medgw::backup {

struct KnownFile {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  std::uint32_t mode = 0;
  std::vector<BlobRef> blobs;
};

struct RunRecord {
  std::string snapshot;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_added = 0;  // age bytes of new packs and the snapshot
  std::string result;             // "ok" or an error code
};

// Another backup holds the lock (`medgw backup run`, or the service's schedule).
class BackupBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BackupState {
 public:
  static constexpr std::string_view folder_name = "backup";

  // Creates state_dir/backup when missing; takes its lock (one backup at a
  // time; the daemon's collection and uploads are not held up). Throws.
  [[nodiscard]] static BackupState open(const std::filesystem::path& state_dir, const log::Logger& logger);

  [[nodiscard]] base::Database& db() noexcept { return db_; }
  [[nodiscard]] const std::filesystem::path& folder() const noexcept { return folder_; }

  // The repository this state describes; binding another one forgets every
  // blob, pack and file of the previous one (they are not in the new one).
  [[nodiscard]] std::optional<std::string> bound_repository();
  void bind_repository(std::string_view id, std::string_view location);

  // The repository's secret on the gateway, nullopt when this gateway has none.
  [[nodiscard]] std::optional<std::vector<std::uint8_t>> load_secret(std::string_view repository_id) const;
  void save_secret(std::string_view repository_id, base::ByteView secret) const;

  [[nodiscard]] std::optional<KnownFile> find_file(std::string_view volume, std::string_view path);
  [[nodiscard]] std::optional<BlobRef> find_blob(const BlobId& id);
  [[nodiscard]] std::optional<PackListEntry> find_pack(std::string_view name);

  // Inside a WriteTransaction of the caller.
  void put_file(std::string_view volume, std::string_view path, const KnownFile& file);
  void put_blob(const BlobRef& ref);
  void put_pack(const PackListEntry& pack);
  // Forgets the packs gone from the repository (or of another size than it
  // wrote): their blobs, and the files using them, which are then read again.
  // `present(name, size)` asks the repository. Returns how many were gone.
  std::size_t forget_missing_packs(const std::function<bool(const std::string&, std::uint64_t)>& present);
  void record_run(const RunRecord& run);
  [[nodiscard]] std::optional<RunRecord> last_run(bool successful_only);

 private:
  BackupState(std::filesystem::path folder, spool::WriterLock lock, base::Database db);
  std::filesystem::path folder_;
  spool::WriterLock lock_;
  base::Database db_;
  std::optional<base::Statement> find_file_;
  std::optional<base::Statement> find_blob_;
  std::optional<base::Statement> put_file_;
  std::optional<base::Statement> put_blob_;
};

[[nodiscard]] const spool::Schema& backup_schema();

}  // namespace medgw::backup
