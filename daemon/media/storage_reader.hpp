#pragma once
// Where an export reads the hospital's SS-MIX2 storage from. The exporter
// sees only this interface, so that the live sources (SourcesReader, here)
// and a backup snapshot (backup_reader.cpp, through daemon/backup) are
// the same to it: volumes of files listed with name, size and mtime, in the
// byte order of their paths (a patient's folder pid[0:3]/pid[3:6]/pid/ comes
// out in one run), and the content of one file.
#include <daemon/config/config.hpp>

#include <crypto/age.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::media {

enum class VolumeKind { standardized, extended };

struct Volume {
  std::string label;  // "ssmix2", "ssmix2-ext": the raw storage keeps its files under it
  VolumeKind kind = VolumeKind::standardized;
  std::size_t partner = SIZE_MAX;  // the extended volume of a standardized one (and back), or SIZE_MAX
};

struct StoredFile {
  std::string_view path;  // relative to the volume, '/'-separated, raw bytes (not always UTF-8)
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// Counted by the walk and shown in the summary (never with a path: it names a patient).
struct WalkIssues {
  std::uint64_t unreadable = 0;  // folders or files that could not be listed or read
  std::uint64_t skipped = 0;     // symbolic links, fifos, devices: not part of a storage
};

class StorageReader {
 public:
  using Visit = std::function<void(const StoredFile& file)>;

  virtual ~StorageReader() = default;
  // "sources" or "backup": what MANIFEST.JSON and README.TXT name as the origin.
  [[nodiscard]] virtual std::string_view origin() const = 0;
  // The snapshot read (empty for the live sources).
  [[nodiscard]] virtual std::string snapshot() const = 0;
  [[nodiscard]] virtual const std::vector<Volume>& volumes() const = 0;
  // Every file of `volume` under `prefix` ("" = all; else a folder "a/b/c/"), in
  // byte order of the path. A prefix that does not exist lists nothing.
  [[nodiscard]] virtual base::Status walk(std::size_t volume, std::string_view prefix, const Visit& visit,
                                          WalkIssues& issues) = 0;
  // Whether `folder` ("a/b/c/") exists in `volume`.
  [[nodiscard]] virtual bool has_folder(std::size_t volume, std::string_view folder) = 0;
  // The whole content of one file as it is now (its size may differ from the
  // listing's if a writer is at work).
  [[nodiscard]] virtual base::Result<std::string> read(std::size_t volume, std::string_view path) = 0;
};

// The ssmix2 sources of a loaded config, read in place (read-only, never
// following a symbolic link). Fails when the config has no ssmix2 source.
[[nodiscard]] base::Result<std::unique_ptr<StorageReader>> open_sources_reader(const daemon::Config& config);

// One SS-MIX2 source in folders: the standardized storage and, if any, the
// extended storage (volume labels `label` and `label`-ext).
struct StorageRoots {
  std::string label;
  std::filesystem::path standardized;
  std::filesystem::path extended;  // empty when the hospital has none
};

// A reader over folders given directly (the sources of a config, tests).
[[nodiscard]] std::unique_ptr<StorageReader> open_folder_reader(std::vector<StorageRoots> roots);

// A snapshot ("latest", an id or its start) of the backup repository, read
// with the recovery identity (backup_reader.cpp; the listing is held in memory).
[[nodiscard]] base::Result<std::unique_ptr<StorageReader>> open_backup_reader(const std::filesystem::path& repository,
                                                                              crypto::age::Identities identities,
                                                                              std::string_view snapshot);

}  // namespace medgw::media
