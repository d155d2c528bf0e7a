#pragma once
// Builds one object file: pax tar (libarchive, MANIFEST.json first) -> zstd
// -> age -> a temporary file in the spool folder -> fsync -> rename -> fsync
// the folder. Plaintext never touches the disk; source files are streamed, so
// memory stays flat whatever their size; each file's size and SHA-256 are
// checked against what the collector saw while it is read. A large file the
// collector compressed while reading it (entry.spilled) is copied in as the
// zstd frame it already is.
#include <spool/object.hpp>
#include <spool/zstd_writer.hpp>

#include <crypto/age_keys.hpp>

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <variant>

namespace medgw::spool {

struct BuiltObject {
  std::filesystem::path file;  // final path, complete and durable
  std::uint64_t size = 0;      // bytes of the age file
  std::string sha256;          // of the age file, hex
  std::uint64_t content_bytes = 0;
};

enum class BuildError {
  disk_full,          // ENOSPC/EDQUOT writing the object
  source_changed,     // a file's size or SHA-256 differs from what was seen (still being written?)
  source_unreadable,  // a file vanished or cannot be read
  io_error,           // any other failure writing the object
};
[[nodiscard]] std::string_view build_error_name(BuildError error);

struct BuildFailure {
  BuildError code = BuildError::io_error;
  std::size_t entry = 0;  // index of the entry at fault, for source_* errors
  std::string message;    // names no source path (paths name patients)
};

struct BuildOptions {
  int zstd_level = object_zstd_level;
  // zstd worker threads: with one, compression runs beside the thread that
  // reads, encrypts and writes (a two-stage pipeline); 0 = all on one thread.
  int zstd_workers = 1;
};

[[nodiscard]] std::variant<BuiltObject, BuildFailure> build_object(const std::filesystem::path& target,
                                                                   const ObjectHeader& header,
                                                                   std::span<const ObjectEntry> entries,
                                                                   std::span<const crypto::X25519PublicKey> recipients,
                                                                   const BuildOptions& options = {});

}  // namespace medgw::spool
