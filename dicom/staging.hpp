#pragma once
// Where received DICOM instances rest until their study's object is
// committed (DESIGN.md §7 invariant 5: the one other place plaintext may
// rest), under state_dir/dicom/<source>/ (0700):
//
//   incoming/<random>.part        a data set being received (removed at start)
//   studies/<study>/<sop>.dcm     complete, fsynced instances; a study
//                                  folder's mtime is its last arrival
//   sending/<study>.<n>/...        studies that settled, claimed by the feed
//
// <study> and <sop> are the first 32 hex digits of the SHA-256 of the UID,
// so no identifier of the data names a file; a PACS sending the same
// instance again replaces it. Nothing is hashed while receiving (the C-STORE
// answer waits for nothing but the disk): the feed hashes a study's files
// when it spools them. Claimed folders (sending/) never change.
#include <dicom/instance.hpp>

#include <base/unique_fd.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::dicom {

class Staging {
 public:
  // Creates the folders (0700) when missing.
  explicit Staging(std::filesystem::path dir);

  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

  struct Incoming {
    base::UniqueFd fd;
    std::filesystem::path path;
  };
  // A new private file in incoming/.
  [[nodiscard]] Incoming open_incoming() const;
  // Moves a complete file (fsynced by the caller) into its study (replacing
  // an earlier copy of the same instance) and makes
  // the move durable before returning (the C-STORE response follows).
  void stage(const std::filesystem::path& file, const InstanceFacts& facts) const;
  // Removes what a crash left in incoming/; returns how many.
  std::size_t clear_incoming() const;
  // Bytes held in studies/ and sending/.
  [[nodiscard]] std::uint64_t usage() const;

  struct Study {
    std::filesystem::path dir;  // in sending/
    std::string key;
  };
  // Claims the studies whose last instance came `settle` or more ago (moves
  // them to sending/), then lists everything in sending/ (claimed now or
  // left by an earlier pass), oldest first.
  [[nodiscard]] std::vector<Study> claim_settled(std::chrono::milliseconds settle) const;
  // The number of study folders still settling.
  [[nodiscard]] std::size_t settling() const;

  [[nodiscard]] static std::string key_of(std::string_view uid);

  // For status: instances and studies still settling, and claimed (being
  // spooled, or held for the patient policy). Only reads; never creates.
  struct Counts {
    std::uint64_t settling_studies = 0, settling_instances = 0;
    std::uint64_t claimed_studies = 0, claimed_instances = 0;
    std::uint64_t bytes = 0;
  };
  [[nodiscard]] static Counts count(const std::filesystem::path& dir);

  struct StagedFile {
    std::filesystem::path path;
    std::string sop_key;
  };
  // The instance files of a claimed study.
  [[nodiscard]] static std::vector<StagedFile> files_of(const Study& study);

 private:
  std::filesystem::path dir_;
};

}  // namespace medgw::dicom
