#pragma once
// `medgw backup restore`: a snapshot (or part of it) into an empty folder,
// files as <volume label>/<path> with their modes and mtimes. A file whose
// blobs cannot be read (pack missing or damaged) is left out and reported by
// its entry number and volume (and the patient's keyed tag), never by its
// path; everything else is restored.
#include <daemon/backup/repository_reader.hpp>

#include <functional>

namespace medgw::backup {

struct RestoreOptions {
  std::string snapshot = "latest";
  std::string path_prefix;  // "<label>/<path prefix>"; empty = everything
  std::string patient;      // a patient ID: only that patient's files of by-patient volumes
  std::filesystem::path target;
  bool force = false;       // restore into a non-empty target, replacing files of the same name
};

struct RestoreReport {
  std::string snapshot;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t damaged = 0;          // files left out
  bool snapshot_complete = true;      // false: files after a damaged part of the snapshot are unknown
};

using ProblemCallback = std::function<void(const std::string& problem)>;

// Fails before writing anything when the target is not empty (without force)
// or the snapshot cannot be found; problems with single files go to `problem`.
[[nodiscard]] base::Result<RestoreReport> restore_snapshot(RepositoryReader& reader, const RestoreOptions& options,
                                                           const ProblemCallback& problem);

}  // namespace medgw::backup
