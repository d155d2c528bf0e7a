#pragma once
// One export of viewer media: reads a storage (live sources or a backup),
// patient folder by patient folder, and writes the media - the viewer, the
// encrypted data packs and index, the raw storage (tar+age, or in clear), the
// README and the signed manifest. Memory stays flat in the number of patients:
// one patient's files, one data pack and one index shard at a time.
#include <daemon/media/media_sink.hpp>
#include <daemon/media/storage_reader.hpp>

#include <crypto/signing.hpp>

#include <base/bytes.hpp>
#include <base/result.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace medgw::media {

struct ExportProgress {
  std::uint64_t patients = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

struct ExportOptions {
  std::filesystem::path out;
  MediaFormat format = MediaFormat::iso;
  bool encrypt = true;
  base::SecureString passphrase;          // required when encrypting
  std::string title;
  std::string since;                      // YYYYMMDD: dated data before it is left out; empty = all
  std::optional<std::set<std::string>> patients;  // only these patient IDs; nullopt = all
  bool replace = false;                   // --force
  std::string facility_code;
  std::string facility_name;
  std::string medgw_version;
  std::uint32_t iterations = 600'000;
  std::function<void(const ExportProgress&)> progress;  // called every few hundred files
};

struct ExportSummary {
  std::uint64_t patients = 0;
  std::uint64_t source_files = 0;   // files of the storage read
  std::uint64_t source_bytes = 0;
  std::uint64_t media_files = 0;    // files on the media (besides the manifest and signature)
  std::uint64_t media_bytes = 0;
  std::chrono::duration<double> elapsed{};
  // What did not go as a clean storage would: kind -> count. Problems
  // (encoding_invalid, hl7_invalid, unknown_data_type, unreadable,
  // bad_file_name, misplaced, pid_mismatch, non_utf8_name, not_in_patient_folder,
  // content_folder_invalid, too_large, name_not_on_media) and notices
  // (superseded: flag 2, deleted: flag 0, out_of_period).
  std::map<std::string, std::uint64_t> counts;
};

[[nodiscard]] base::Result<ExportSummary> export_media(StorageReader& reader, const ExportOptions& options,
                                                       const crypto::SigningKey& signer);

}  // namespace medgw::media
