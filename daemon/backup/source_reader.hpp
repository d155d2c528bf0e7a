#pragma once
// Reads one source file for the backup, read-only (O_NOFOLLOW, and O_NOATIME
// where allowed: sources stay untouched, invariant 4): small files as one
// piece, files of chunking_threshold or more through the chunker, streamed
// with a buffer of twice the largest chunk.
#include <daemon/backup/chunker.hpp>

#include <base/result.hpp>

#include <filesystem>
#include <functional>

namespace medgw::backup {

struct SourceRead {
  std::uint64_t size = 0;  // bytes read (what the blobs hold)
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  std::uint32_t mode = 0;
  bool changed = false;  // size, mtime or ctime moved while it was read
};

using OnPiece = std::function<void(base::ByteView piece)>;

// Fails with "vanished" (gone since the walk) or "unreadable"; the message
// never names the file (its path names a patient).
[[nodiscard]] base::Result<SourceRead> read_source_file(const std::filesystem::path& file, const Chunker& chunker,
                                                        const OnPiece& on_piece);

}  // namespace medgw::backup
