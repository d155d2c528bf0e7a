// A backup snapshot as a StorageReader (export-media --from backup): its
// SS-MIX2 volumes, listed once with the recovery identity, files read blob by
// blob (each checked against its keyed id) through daemon/backup's
// RepositoryReader. The listing is held in memory (path, size, mtime and
// blob references per file), sorted as the walk of the live sources is.
#include <daemon/media/storage_reader.hpp>

#include <daemon/backup/repository_reader.hpp>

#include <algorithm>
#include <map>

namespace medgw::media {
namespace {

class StringSink final : public base::ByteSink {
 public:
  void write(base::ByteView bytes) override { text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }
  std::string text;
};

bool by_path(const backup::FileEntry& a, const backup::FileEntry& b) { return a.path < b.path; }

class BackupReader final : public StorageReader {
 public:
  BackupReader(backup::RepositoryReader reader, std::string snapshot)
      : reader_(std::move(reader)), snapshot_(std::move(snapshot)) {}

  // Lists the snapshot's SS-MIX2 volumes; fails when the snapshot cannot be read whole.
  base::Status load() {
    std::map<std::size_t, std::size_t> volume_of;  // snapshot volume -> ours
    const backup::SnapshotReadResult read = reader_.list(
        snapshot_, {[&](const backup::SnapshotHeader& header) { add_volumes(header, volume_of); },
                    [&](std::uint64_t, const backup::FileEntry& file) {
                      if (auto ours = volume_of.find(file.volume); ours != volume_of.end()) {
                        files_[ours->second].push_back(file);
                      }
                    }});
    if (!read.complete) {
      return base::fail("backup_damaged", "snapshot " + snapshot_ + ": " + read.problem +
                                              " (medgw backup verify tells more; choose another with --snapshot)");
    }
    if (volumes_.empty()) {
      return base::fail("no_ssmix2_source", "snapshot " + snapshot_ + " holds no SS-MIX2 storage");
    }
    for (auto& files : files_) std::sort(files.begin(), files.end(), by_path);
    return {};
  }

  [[nodiscard]] std::string_view origin() const override { return "backup"; }
  [[nodiscard]] std::string snapshot() const override { return snapshot_; }
  [[nodiscard]] const std::vector<Volume>& volumes() const override { return volumes_; }

  base::Status walk(std::size_t volume, std::string_view prefix, const Visit& visit, WalkIssues&) override {
    for (auto it = first_under(volume, prefix); it != files_[volume].end() && it->path.starts_with(prefix); ++it) {
      visit(StoredFile{it->path, it->size, it->mtime_ns});
    }
    return {};
  }

  bool has_folder(std::size_t volume, std::string_view folder) override {
    const auto it = first_under(volume, folder);
    return it != files_[volume].end() && it->path.starts_with(folder);
  }

  base::Result<std::string> read(std::size_t volume, std::string_view path) override {
    const auto it = first_under(volume, path);
    if (it == files_[volume].end() || it->path != path) return base::fail("unreadable", "not in the snapshot");
    StringSink sink;
    if (base::Status done = reader_.read_file(*it, sink); !done) return base::fail(done.error());
    return std::move(sink.text);
  }

 private:
  void add_volumes(const backup::SnapshotHeader& header, std::map<std::size_t, std::size_t>& volume_of) {
    std::map<std::string, std::size_t> by_label;
    for (std::size_t i = 0; i < header.volumes.size(); ++i) {
      if (header.volumes[i].type != "ssmix2") continue;
      volume_of[i] = volumes_.size();
      by_label[header.volumes[i].label] = volumes_.size();
      volumes_.push_back(Volume{header.volumes[i].label, VolumeKind::standardized, SIZE_MAX});
    }
    // An SS-MIX2 source's extended storage is its pass "<name>-ext".
    for (auto& [label, index] : by_label) {
      if (!label.ends_with("-ext")) continue;
      const auto partner = by_label.find(label.substr(0, label.size() - 4));
      if (partner == by_label.end()) continue;
      volumes_[index].kind = VolumeKind::extended;
      volumes_[index].partner = partner->second;
      volumes_[partner->second].partner = index;
    }
    files_.resize(volumes_.size());
  }

  std::vector<backup::FileEntry>::const_iterator first_under(std::size_t volume, std::string_view prefix) const {
    return std::lower_bound(files_[volume].begin(), files_[volume].end(), prefix,
                            [](const backup::FileEntry& file, std::string_view key) { return file.path < key; });
  }

  backup::RepositoryReader reader_;
  std::string snapshot_;
  std::vector<Volume> volumes_;
  std::vector<std::vector<backup::FileEntry>> files_;  // per volume, by path
};

}  // namespace

base::Result<std::unique_ptr<StorageReader>> open_backup_reader(const std::filesystem::path& repository,
                                                                crypto::age::Identities identities,
                                                                std::string_view snapshot) {
  auto reader = backup::RepositoryReader::open(repository, std::move(identities));
  if (!reader) return base::fail(reader.error());
  auto id = reader->resolve(snapshot);
  if (!id) return base::fail(id.error());
  auto storage = std::make_unique<BackupReader>(std::move(*reader), *id);
  if (base::Status loaded = storage->load(); !loaded) return base::fail(loaded.error());
  return std::unique_ptr<StorageReader>(std::move(storage));
}

}  // namespace medgw::media
