#pragma once
// The central's backup area (issue 16, docs/backup.md "At the central"):
// one folder repository per facility under backup.dir/<facility code>/, in
// the very layout a gateway writes to a NAS (backupstore/), which gateways
// fill through <backup.path><name> on the mutual-TLS listener:
//
//   - write once: a name is given once. The same bytes again are accepted
//     (a gateway retrying a PUT whose answer it lost); other bytes are
//     refused (409), and nothing is ever deleted on a gateway's request but
//     its run's lease, locks/run-<hex>, which holds no data;
//   - a facility's files may take backup.quota bytes (507 beyond);
//   - retention runs here, with no key (`medgw-receiver backup forget`),
//     kept apart from a gateway's run by the same lock markers as on a NAS.
//
// Everything here blocks (file system): the server calls it off its loop.
#include <backupstore/repository.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace medgw::receiver {

enum class BackupName { config, key, pack, pack_list, snapshot, lease };
// What a name in the layout is; nullopt for anything else (paths outside
// the layout, dots, slashes where none belong...).
[[nodiscard]] std::optional<BackupName> backup_name_kind(std::string_view name);

class BackupArea {
 public:
  BackupArea(std::filesystem::path dir, std::uint64_t quota);

  [[nodiscard]] backup::FolderRepository repository(const std::string& facility) const;
  // Removes the bodies a stopped receiver left half-received (tmp/ of each
  // facility; never a named file). At start, before anything is served.
  void remove_temporaries() const;
  [[nodiscard]] std::uint64_t quota() const noexcept { return quota_; }
  // Bytes the facility's files take. Counted at first use and when the
  // count is older than `recount_after` (retention runs in another process),
  // kept up to date by this area's writes in between.
  [[nodiscard]] std::uint64_t used(const std::string& facility);

  // A file to receive a PUT's body into (the facility's repository folders
  // are made first). Throws std::system_error.
  [[nodiscard]] std::unique_ptr<backup::NewFile> receive(const std::string& facility);
  enum class Stored { created, same, conflict };
  // Names the received file (durably, never replacing one), or compares it
  // with the file that has the name. Throws std::system_error.
  [[nodiscard]] Stored store(const std::string& facility, const std::string& name, backup::NewFile& file);
  [[nodiscard]] std::optional<std::uint64_t> size_of(const std::string& facility, const std::string& name) const;
  // A small clear file (config, a pack list), at most 1 MiB.
  [[nodiscard]] std::optional<std::string> read_clear(const std::string& facility, const std::string& name) const;

  // A gateway's run lease (locks/run-<hex>): made or renewed; false when
  // retention is running on the facility's repository (the run must wait).
  [[nodiscard]] bool hold_lease(const std::string& facility, const std::string& name);
  void drop_lease(const std::string& facility, const std::string& name);

  static constexpr std::chrono::minutes recount_after{10};

 private:
  struct Usage {
    std::uint64_t bytes = 0;
    std::chrono::steady_clock::time_point counted{};
  };
  std::filesystem::path dir_;
  std::uint64_t quota_;
  std::mutex mutex_;
  std::map<std::string, Usage> usage_;
};

}  // namespace medgw::receiver
