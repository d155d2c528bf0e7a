#pragma once
// Content-defined chunking of large files (FastCDC-style: a gear rolling
// hash with normalized chunking). A cut point depends only on the bytes just
// before it, so inserting or removing bytes in a file moves the boundaries
// next to the change and leaves the others where they were: the chunks after
// the change are found again and stored once.
//
// The gear table is derived from the repository's secret, so chunk sizes do
// not reveal to the repository's holder which known file was stored.
#include <base/bytes.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace medgw::backup {

struct ChunkSizes {
  std::size_t min = 256 * 1024;
  std::size_t average = 1024 * 1024;  // a power of two
  std::size_t max = 4 * 1024 * 1024;
};

class Chunker {
 public:
  // `key` seeds the gear table (any length; the repository's secret).
  Chunker(base::ByteView key, ChunkSizes sizes = {});

  // The length of the next chunk at the start of `data`. `data` must hold at
  // least sizes().max bytes unless it is the rest of the file (then the whole
  // of it may become the last chunk).
  [[nodiscard]] std::size_t next_cut(base::ByteView data) const;
  [[nodiscard]] const ChunkSizes& sizes() const noexcept { return sizes_; }

 private:
  ChunkSizes sizes_;
  std::array<std::uint64_t, 256> gear_{};
  std::uint64_t mask_small_ = 0;  // before the average: harder to match (more bits)
  std::uint64_t mask_large_ = 0;  // after it: easier (fewer bits)
};

}  // namespace medgw::backup
