// The live sources as a StorageReader: the folders of the config's ssmix2
// sources, walked with the collectors' TreeWalker (getdents, byte order, no
// symbolic link followed) and read with O_NOFOLLOW (and O_NOATIME where
// allowed: the sources stay untouched even in their access times).
#include <daemon/media/storage_reader.hpp>

#include <collectors/tree_walker.hpp>

#include <base/unique_fd.hpp>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::media {
namespace {

class FolderReader final : public StorageReader {
 public:
  explicit FolderReader(std::vector<StorageRoots> roots) {
    for (StorageRoots& root : roots) {
      const std::size_t index = volumes_.size();
      volumes_.push_back(Volume{root.label, VolumeKind::standardized, SIZE_MAX});
      folders_.push_back(root.standardized);
      if (!root.extended.empty()) {
        volumes_[index].partner = index + 1;
        volumes_.push_back(Volume{root.label + "-ext", VolumeKind::extended, index});
        folders_.push_back(root.extended);
      }
    }
  }

  [[nodiscard]] std::string_view origin() const override { return "sources"; }
  [[nodiscard]] std::string snapshot() const override { return {}; }
  [[nodiscard]] const std::vector<Volume>& volumes() const override { return volumes_; }

  base::Status walk(std::size_t volume, std::string_view prefix, const Visit& visit, WalkIssues& issues) override {
    const std::filesystem::path root = prefix.empty() ? folders_[volume] : folders_[volume] / std::string(prefix);
    std::string path(prefix);
    const std::size_t base = path.size();
    try {
      collectors::TreeWalker walker;
      const auto counters = walker.walk(
          root,
          [&](std::string_view relative, const collectors::FileStat& stat) {
            path.resize(base);
            path.append(relative);
            visit(StoredFile{path, stat.size, stat.mtime_ns});
          },
          [&](collectors::WalkProblem problem, std::string_view) {
            if (problem == collectors::WalkProblem::symlink_skipped ||
                problem == collectors::WalkProblem::special_skipped) {
              ++issues.skipped;
            } else {
              ++issues.unreadable;
            }
          });
      (void)counters;
    } catch (const std::system_error& error) {
      if (!prefix.empty() && (error.code().value() == ENOENT || error.code().value() == ENOTDIR)) return {};
      // The root of a volume is configuration, not patient data: it may be named.
      return base::fail("source_unreadable", "cannot read the storage " + folders_[volume].string() + " (" +
                                                 volumes_[volume].label + "): " + error.code().message() +
                                                 "; check sources[].path in the config and its permissions");
    }
    return {};
  }

  bool has_folder(std::size_t volume, std::string_view folder) override {
    struct stat info {};
    const std::filesystem::path path = folders_[volume] / std::string(folder);
    return ::lstat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
  }

  base::Result<std::string> read(std::size_t volume, std::string_view path) override {
    const std::filesystem::path file = folders_[volume] / std::string(path);
    base::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME));
    if (!fd && errno == EPERM) fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return base::fail("unreadable", std::strerror(errno));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) return base::fail("unreadable", std::strerror(errno));
    if (!S_ISREG(info.st_mode)) return base::fail("unreadable", "not a regular file");
    std::string content(static_cast<std::size_t>(info.st_size), '\0');
    std::size_t have = 0;
    while (true) {
      if (have == content.size()) content.resize(have + 4096);  // grown meanwhile: read on
      const ssize_t got = ::read(fd.get(), content.data() + have, content.size() - have);
      if (got < 0) {
        if (errno == EINTR) continue;
        return base::fail("unreadable", std::strerror(errno));
      }
      if (got == 0) break;
      have += static_cast<std::size_t>(got);
    }
    content.resize(have);
    return content;
  }

 private:
  std::vector<Volume> volumes_;
  std::vector<std::filesystem::path> folders_;
};

}  // namespace

std::unique_ptr<StorageReader> open_folder_reader(std::vector<StorageRoots> roots) {
  return std::make_unique<FolderReader>(std::move(roots));
}

base::Result<std::unique_ptr<StorageReader>> open_sources_reader(const daemon::Config& config) {
  std::vector<StorageRoots> roots;
  for (const daemon::SourceConfig& source : config.sources) {
    if (source.type != "ssmix2") continue;
    roots.push_back(StorageRoots{source.name, source.path("path"), source.path("extended_path")});
  }
  if (roots.empty()) {
    return base::fail("no_ssmix2_source", config.origin.string() +
                                              ": no source of type ssmix2; viewer media are made from an SS-MIX2 "
                                              "storage (add one under sources:)");
  }
  return open_folder_reader(std::move(roots));
}

}  // namespace medgw::media
