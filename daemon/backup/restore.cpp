#include <daemon/backup/restore.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>
#include <base/output_file.hpp>
#include <base/unique_fd.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::backup {
namespace {

// A name from the snapshot that stays inside the target: no absolute path,
// no empty, "." or ".." component (a snapshot can be forged by anyone who
// knows the recipients).
bool safe_relative(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  while (true) {
    const auto slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

bool folder_is_empty(const std::filesystem::path& folder) {
  std::error_code ec;
  return std::filesystem::directory_iterator(folder, ec) == std::filesystem::directory_iterator();
}

class Restorer {
 public:
  Restorer(RepositoryReader& reader, const RestoreOptions& options, const ProblemCallback& problem)
      : reader_(reader), options_(options), problem_(problem) {}

  RestoreReport run(const std::string& snapshot) {
    report_.snapshot = snapshot;
    SnapshotVisitor visitor;
    visitor.on_header = [&](const SnapshotHeader& header) { volumes_ = header.volumes; };
    visitor.on_file = [&](std::uint64_t index, const FileEntry& file) { restore(index, file); };
    const SnapshotReadResult read = reader_.list(snapshot, visitor);
    if (!read.complete) {
      report_.snapshot_complete = false;
      problem_("snapshot " + snapshot + ": " + read.problem + "; restored what it lists before that (" +
               std::to_string(read.files) + " entries)");
    }
    return report_;
  }

 private:
  std::string reference(std::uint64_t index, const FileEntry& file) const {
    const VolumeInfo& volume = volumes_[file.volume];
    std::string text = "entry " + std::to_string(index) + " (" + volume.label;
    if (volume.by_patient) {
      const std::string_view patient = patient_of(file.path);
      if (!patient.empty()) text += ", " + reader_.patient_tag(patient);
    }
    return text + ")";
  }

  bool selected(const FileEntry& file) const {
    const VolumeInfo& volume = volumes_[file.volume];
    if (!options_.patient.empty()) {
      if (!volume.by_patient || patient_of(file.path) != options_.patient) return false;
    }
    if (!options_.path_prefix.empty()) {
      return (volume.label + "/" + file.path).starts_with(options_.path_prefix);
    }
    return true;
  }

  void restore(std::uint64_t index, const FileEntry& file) {
    if (!selected(file)) return;
    const VolumeInfo& volume = volumes_[file.volume];
    if (!safe_relative(volume.label) || volume.label.find('/') != std::string::npos || !safe_relative(file.path)) {
      ++report_.damaged;
      problem_(reference(index, file) + ": not restored: its name would leave the target folder");
      return;
    }
    const std::filesystem::path destination = options_.target / volume.label / file.path;
    if (base::Status written = write(destination, file); !written) {
      ++report_.damaged;
      problem_(reference(index, file) + ": not restored: " + written.error().message);
      return;
    }
    ++report_.files;
    report_.bytes += file.size;
  }

  // Into an empty target (the usual case) a file is written under its name
  // (O_EXCL: never over another) and removed again if it cannot be
  // finished; with --force it goes to a temporary first and is renamed over
  // the old one, so a failure leaves the old file. The folder of the last
  // file is remembered: a snapshot lists a folder's files together.
  base::Status write(const std::filesystem::path& destination, const FileEntry& file) {
    const std::filesystem::path folder = destination.parent_path();
    if (folder != last_folder_) {
      std::error_code ec;
      std::filesystem::create_directories(folder, ec);
      if (ec) return base::fail("target_unwritable", "cannot create a folder in the target: " + ec.message());
      last_folder_ = folder;
    }
    std::filesystem::path written = destination;
    if (options_.force) {
      std::array<std::uint8_t, 8> random{};
      crypto::random_bytes(random);
      written = folder / (".medgw-restore-" + base::to_hex(random));
    }
    base::UniqueFd fd(::open(written.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return base::fail("target_unwritable", std::string("cannot write in the target: ") + std::strerror(errno));
    base::Status status;
    try {
      base::FdSink sink(fd.get(), "a restored file");
      status = reader_.read_file(file, sink);
    } catch (const std::system_error& error) {
      status = base::fail("target_unwritable", std::string("cannot write in the target: ") + error.code().message());
    }
    if (status) {
      const struct timespec times[2] = {{file.mtime_ns / 1'000'000'000, file.mtime_ns % 1'000'000'000},
                                        {file.mtime_ns / 1'000'000'000, file.mtime_ns % 1'000'000'000}};
      if (::fchmod(fd.get(), static_cast<mode_t>(file.mode & 07777)) != 0 || ::futimens(fd.get(), times) != 0 ||
          ::close(fd.release()) != 0 || (written != destination && ::rename(written.c_str(), destination.c_str()) != 0)) {
        status = base::fail("target_unwritable", std::string("cannot finish a file in the target: ") +
                                                     std::strerror(errno));
      }
    }
    if (!status) ::unlink(written.c_str());
    return status;
  }

  RepositoryReader& reader_;
  const RestoreOptions& options_;
  const ProblemCallback& problem_;
  std::vector<VolumeInfo> volumes_;
  RestoreReport report_;
  std::filesystem::path last_folder_;
};

}  // namespace

base::Result<RestoreReport> restore_snapshot(RepositoryReader& reader, const RestoreOptions& options,
                                             const ProblemCallback& problem) {
  auto snapshot = reader.resolve(options.snapshot);
  if (!snapshot) return base::fail(snapshot.error());
  std::error_code ec;
  if (std::filesystem::exists(options.target, ec)) {
    if (!std::filesystem::is_directory(options.target, ec)) {
      return base::fail("target_not_a_folder", options.target.string() + " is not a folder");
    }
    if (!options.force && !folder_is_empty(options.target)) {
      return base::fail("target_not_empty", options.target.string() +
                                                " is not empty; restore into an empty or new folder, or give --force "
                                                "to replace files of the same name there");
    }
  } else if (std::filesystem::create_directories(options.target, ec); ec) {
    return base::fail("target_unwritable", "cannot create " + options.target.string() + ": " + ec.message());
  }
  Restorer restorer(reader, options, problem);
  return restorer.run(*snapshot);
}

}  // namespace medgw::backup
