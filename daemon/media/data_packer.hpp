#pragma once
// The viewer's data (DATA/), written as classic scripts that a file:// page
// can load with <script src> (fetch/XHR and ES modules are blocked there):
//   DATA/P/<32 hex>.JS  window.__medgw_pack("P/<hex>.JS", ["<item>", ...])
//                       a pack of up to 256 items (a patient's record, a document's
//                       bytes), flushed at 4 MiB; item n is named "P/<hex>.JS#n". A
//                       patient costs one item, not one file (an ISO entry costs
//                       libarchive ~4.6 KiB of memory until the image is closed)
//   DATA/I/<32 hex>.JS  window.__medgw_index("I/<hex>.JS", "<item>")  up to 4,096
//                       index rows, {"packs": [pack names], "rows": [[pack number,
//                       item number, id, name, kana, birth, sex(, folded name,
//                       folded kana)]]} - the folded names only where folding does
//                       more than drop the spaces: the index stays small, so the
//                       list of 82,000 patients opens fast
//   DATA/KEY.JS         window.__medgw_media = {...}: format, encryption parameters,
//                       the passphrase check, the list of index shards, the title
// An item is base64 of the bytes - JSON (records, index shards) deflated
// first (zlib format, what the browser's DecompressionStream("deflate") reads:
// a third of the size, so the list of 82,000 patients loads fast) - sealed
// with MediaCipher when encrypting.
// File names are random: they carry no ID. Memory: one pack and one
// shard at a time, whatever the number of patients.
#include <daemon/media/media_cipher.hpp>
#include <daemon/media/media_sink.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::media {

struct ItemRef {
  std::string pack;        // "P/<hex>.JS"
  std::size_t number = 0;  // its place in the pack
  // "P/<hex>.JS#n": the item's name (sealed under it) and its reference.
  [[nodiscard]] std::string name() const { return pack + "#" + std::to_string(number); }
};

struct IndexRow {
  ItemRef record;
  std::string id;
  std::string name;
  std::string kana;
  std::string birth;
  std::string sex;
};

struct MediaInfo {  // what DATA/KEY.JS says besides the key
  std::string title;
  std::string created;   // RFC 3339
  std::string facility;  // code and name
};

class DataPacker {
 public:
  static constexpr std::size_t pack_items = 256;
  static constexpr std::size_t pack_bytes = 4 << 20;
  static constexpr std::size_t shard_rows = 4096;

  // `cipher` nullptr: the data is in clear (--no-encrypt).
  DataPacker(MediaSink& sink, const MediaCipher* cipher, std::int64_t mtime_s);

  // `json`: deflated before sealing (records); else kept as they are (documents).
  [[nodiscard]] ItemRef add_item(std::string_view bytes, bool json = false);
  void add_index_row(const IndexRow& row);
  // Flushes the last pack and shard and writes DATA/KEY.JS.
  void finish(const MediaInfo& info);

  [[nodiscard]] std::uint64_t items() const noexcept { return items_; }

 private:
  void flush_pack();
  void flush_shard();
  [[nodiscard]] std::string seal(std::string_view name, std::string_view bytes) const;

  MediaSink& sink_;
  const MediaCipher* cipher_;
  std::int64_t mtime_s_;
  std::string pack_name_;
  std::string pack_text_;
  std::size_t pack_count_ = 0;
  std::string shard_text_;
  std::size_t shard_count_ = 0;
  std::vector<std::string> shard_packs_;
  std::vector<std::string> shards_;
  std::uint64_t items_ = 0;
};

// zlib (RFC 1950) deflate and inflate of an item's plaintext.
[[nodiscard]] std::string deflate_text(std::string_view text);
[[nodiscard]] std::optional<std::string> inflate_text(std::string_view deflated);

// 2n hex digits from the CSPRNG.
[[nodiscard]] std::string random_hex(std::size_t bytes);

}  // namespace medgw::media
