#pragma once
// The backup repository's vocabulary (docs/backup.md has the layout):
// blobs are named by a keyed hash of their content, stored compressed in
// packs; a snapshot lists the files with the blobs that make them.
#include <backupstore/pack_list.hpp>

#include <base/bytes.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::backup {

using BlobId = std::array<std::uint8_t, 32>;  // HMAC-SHA256(repository secret, content)

// Where one blob is: its pack (32 hex digits, random), where its zstd frame
// starts in the pack's plaintext, the frame's length and the blob's size.
struct BlobRef {
  BlobId id{};
  std::string pack;
  std::uint64_t offset = 0;
  std::uint32_t stored = 0;
  std::uint32_t size = 0;
  friend bool operator==(const BlobRef&, const BlobRef&) = default;
};

// A folder of the hospital's data, as a snapshot names it: the pass label
// ("ssmix2", "ssmix2-ext", "dpc"), and whether its files are filed by patient
// (pid[0:3]/pid[3:6]/pid/...), which `restore --patient` relies on.
struct VolumeInfo {
  std::string label;
  bool by_patient = false;
  std::string type;  // the source type (sources[].type): "ssmix2" (both storages), "dpc", "receipt"
};

struct FileEntry {
  std::size_t volume = 0;
  std::string path;  // relative, '/'-separated, raw bytes; names a patient
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0644;
  std::vector<BlobRef> blobs;
};

// Files smaller than this are one blob; larger ones are chunked.
inline constexpr std::uint64_t chunking_threshold = 1024 * 1024;
// A pack is closed once its plaintext reaches this (packs of ~16-20 MiB).
inline constexpr std::uint64_t pack_target_size = 16 * 1024 * 1024;

[[nodiscard]] BlobId blob_id(base::ByteView secret, base::ByteView content);

// Text forms used in the repository's files.
[[nodiscard]] std::string blob_ref_text(const BlobRef& ref);   // "<id hex>:<pack>:<offset>:<stored>:<size>"
[[nodiscard]] std::optional<BlobRef> parse_blob_ref(std::string_view text);
[[nodiscard]] std::string escape_path(std::string_view path);   // no tab, newline, '%', control bytes
[[nodiscard]] std::optional<std::string> unescape_path(std::string_view text);

// The secret's file on the gateway and its text (both sides).
[[nodiscard]] std::string secret_text(std::string_view repository_id, base::ByteView secret);
[[nodiscard]] std::optional<std::vector<std::uint8_t>> parse_secret_text(std::string_view text,
                                                                          std::string_view repository_id);

}  // namespace medgw::backup
