// FastCDC-style chunking (Xia et al., "FastCDC", USENIX ATC 2016), written
// from the published idea: the gear hash fp = (fp << 1) + gear[byte] is
// tested against a mask whose bits are spread over the upper word (each bit
// then depends on a window of up to ~48 bytes); no cut before `min`; below the
// average size a mask with two more bits, above it one with two fewer, which
// narrows the size distribution around the average; a forced cut at `max`.
#include <daemon/backup/chunker.hpp>

#include <crypto/hash.hpp>

#include <bit>
#include <stdexcept>
#include <string>

namespace medgw::backup {
namespace {

// `bits` ones spread evenly over bits 63..16 of the word.
std::uint64_t spread_mask(int bits) {
  std::uint64_t mask = 0;
  constexpr int top = 63;
  constexpr int span = 48;
  for (int i = 0; i < bits; ++i) mask |= std::uint64_t{1} << (top - (i * span) / bits);
  return mask;
}

}  // namespace

Chunker::Chunker(base::ByteView key, ChunkSizes sizes) : sizes_(sizes) {
  if (!std::has_single_bit(sizes_.average) || sizes_.min == 0 || sizes_.min >= sizes_.average ||
      sizes_.average >= sizes_.max) {
    throw std::invalid_argument("chunk sizes must be 0 < min < average < max, average a power of two");
  }
  // gear[i]: the first 8 bytes of HMAC-SHA256(key, "medgw-backup-gear/1" || i).
  for (std::size_t i = 0; i < gear_.size(); ++i) {
    std::string label = "medgw-backup-gear/1";
    label.push_back(static_cast<char>(i));
    const crypto::Digest256 digest = crypto::hmac_sha256(key, base::as_bytes(label));
    std::uint64_t value = 0;
    for (int b = 0; b < 8; ++b) value = (value << 8) | digest[static_cast<std::size_t>(b)];
    gear_[i] = value;
  }
  const int bits = std::countr_zero(sizes_.average);
  mask_small_ = spread_mask(bits + 2);
  mask_large_ = spread_mask(bits - 2);
}

std::size_t Chunker::next_cut(base::ByteView data) const {
  std::size_t length = data.size();
  if (length <= sizes_.min) return length;
  if (length > sizes_.max) length = sizes_.max;
  const std::size_t normal = std::min(length, sizes_.average);
  std::uint64_t fingerprint = 0;
  std::size_t i = sizes_.min;
  for (; i < normal; ++i) {
    fingerprint = (fingerprint << 1) + gear_[data[i]];
    if ((fingerprint & mask_small_) == 0) return i + 1;
  }
  for (; i < length; ++i) {
    fingerprint = (fingerprint << 1) + gear_[data[i]];
    if ((fingerprint & mask_large_) == 0) return i + 1;
  }
  return length;
}

}  // namespace medgw::backup
