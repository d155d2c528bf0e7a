#pragma once
// What the parts of one export share (exporter.cpp walks the storage,
// exporter_patient.cpp turns one patient folder into a record).
#include <daemon/media/data_packer.hpp>
#include <daemon/media/exporter.hpp>
#include <daemon/media/raw_storage.hpp>

#include <string>
#include <vector>

namespace medgw::media {

struct FileRef {
  std::string path;  // relative to its volume
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// The files of one patient folder (pid[0:3]/pid[3:6]/pid/) in one volume.
struct PatientFiles {
  std::string folder;  // "999/901/9999013/"
  std::string id;      // "9999013"
  std::vector<FileRef> files;
};

struct ExportContext {
  StorageReader& reader;
  const ExportOptions& options;
  RawStorage& raw;
  DataPacker& packer;
  ExportSummary& summary;
  std::uint64_t next_progress = 0;

  void count(std::string_view kind, std::uint64_t n = 1) { summary.counts[std::string(kind)] += n; }
  void file_done(std::uint64_t bytes) {
    ++summary.source_files;
    summary.source_bytes += bytes;
    if (options.progress && summary.source_files >= next_progress) {
      options.progress(ExportProgress{summary.patients, summary.source_files, summary.source_bytes});
      next_progress = summary.source_files + 500;
    }
  }
  // Whether a file dated `care_date` (YYYYMMDD or "-") is inside --since.
  [[nodiscard]] bool in_period(std::string_view care_date) const {
    return options.since.empty() || care_date.size() != 8 || care_date >= options.since;
  }
};

// One patient: their standardized files (from `standardized`, may be empty)
// and extended files (from `extended`, may be empty) into the raw storage,
// the data packs and the index.
void export_patient(ExportContext& context, std::size_t standardized, const PatientFiles& standard_files,
                    std::size_t extended, const PatientFiles& extended_files);

// A file outside any patient folder: into the raw storage only.
void export_loose_file(ExportContext& context, std::size_t volume, const FileRef& file);

}  // namespace medgw::media
