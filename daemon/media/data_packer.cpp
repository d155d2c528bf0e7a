#include <daemon/media/data_packer.hpp>

#include <daemon/media/kana_fold.hpp>

#include <crypto/random.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json.hpp>

#include <stdexcept>
#include <vector>

#include <zlib.h>

namespace medgw::media {

std::string random_hex(std::size_t bytes) {
  std::vector<std::uint8_t> random(bytes);
  crypto::random_bytes(random);
  return base::to_hex(random);
}

std::string deflate_text(std::string_view text) {
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(text.data()),
                static_cast<uLong>(text.size()), 6) != Z_OK) {
    throw std::runtime_error("zlib: cannot deflate");
  }
  out.resize(size);
  return out;
}

std::optional<std::string> inflate_text(std::string_view deflated) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return std::nullopt;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(deflated.data()));
  stream.avail_in = static_cast<uInt>(deflated.size());
  std::string out;
  char buffer[1 << 15];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END) return std::nullopt;
  return out;
}

DataPacker::DataPacker(MediaSink& sink, const MediaCipher* cipher, std::int64_t mtime_s)
    : sink_(sink), cipher_(cipher), mtime_s_(mtime_s) {}

std::string DataPacker::seal(std::string_view name, std::string_view bytes) const {
  if (cipher_ != nullptr) return cipher_->seal(name, bytes);
  return base::base64_encode(base::as_bytes(bytes), true);
}

ItemRef DataPacker::add_item(std::string_view bytes, bool json) {
  if (pack_count_ >= pack_items || pack_text_.size() >= pack_bytes) flush_pack();
  if (pack_name_.empty()) {
    pack_name_ = "P/" + random_hex(16) + ".JS";
    pack_text_ = "window.__medgw_pack(\"" + pack_name_ + "\", [";
  }
  ItemRef ref{pack_name_, pack_count_};
  if (pack_count_ > 0) pack_text_ += ",";
  pack_text_ += "\n\"" + seal(ref.name(), json ? deflate_text(bytes) : std::string(bytes)) + "\"";
  ++pack_count_;
  ++items_;
  return ref;
}

void DataPacker::flush_pack() {
  if (pack_name_.empty()) return;
  pack_text_ += "\n]);\n";
  sink_.add("DATA/" + pack_name_, pack_text_, mtime_s_);
  pack_name_.clear();
  pack_text_.clear();
  pack_count_ = 0;
}

namespace {

std::string without_spaces(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ' || text[i] == '\t') continue;
    if (text.substr(i, 3) == "\xE3\x80\x80") {  // U+3000
      i += 2;
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace

void DataPacker::add_index_row(const IndexRow& row) {
  if (shard_count_ >= shard_rows) flush_shard();
  if (shard_packs_.empty() || shard_packs_.back() != row.record.pack) shard_packs_.push_back(row.record.pack);
  shard_text_ += shard_count_ == 0 ? "[" : ",\n";
  base::JsonWriter json;
  json.begin_array()
      .value(static_cast<std::uint64_t>(shard_packs_.size() - 1))
      .value(static_cast<std::uint64_t>(row.record.number))
      .value(row.id)
      .value(row.name)
      .value(row.kana)
      .value(row.birth)
      .value(row.sex);
  const std::string folded_name = fold_for_search(row.name);
  const std::string folded_kana = fold_for_search(row.kana);
  const bool name_plain = folded_name == without_spaces(row.name);
  const bool kana_plain = folded_kana == without_spaces(row.kana);
  if (!name_plain || !kana_plain) json.value(name_plain ? std::string() : folded_name);
  if (!kana_plain) json.value(folded_kana);
  json.end_array();
  shard_text_ += json.text();
  ++shard_count_;
}

void DataPacker::flush_shard() {
  if (shard_count_ == 0) return;
  base::JsonWriter packs;
  packs.begin_array();
  for (const std::string& pack : shard_packs_) packs.value(pack);
  packs.end_array();
  const std::string plaintext = "{\"packs\":" + packs.text() + ",\"rows\":" + shard_text_ + "]}";
  const std::string name = "I/" + random_hex(16) + ".JS";
  const std::string script =
      "window.__medgw_index(\"" + name + "\", \"" + seal(name, deflate_text(plaintext)) + "\");\n";
  sink_.add("DATA/" + name, script, mtime_s_);
  shards_.push_back(name);
  shard_text_.clear();
  shard_packs_.clear();
  shard_count_ = 0;
}

void DataPacker::finish(const MediaInfo& info) {
  flush_pack();
  flush_shard();
  base::JsonWriter json;
  json.begin_object().field("format", "medgw-media/1");
  json.field("title", info.title).field("created", info.created).field("facility", info.facility);
  json.field("encrypted", cipher_ != nullptr).field("compression", "deflate");
  if (cipher_ != nullptr) {
    json.field("kdf", "PBKDF2-SHA256")
        .field("iterations", static_cast<std::uint64_t>(cipher_->iterations()))
        .field("salt", base::base64_encode(cipher_->salt(), true))
        .field("cipher", "AES-256-GCM")
        .field("check", cipher_->seal(check_name, check_text));
  }
  json.key("shards").begin_array();
  for (const std::string& shard : shards_) json.value(shard);
  json.end_array().end_object();
  sink_.add("DATA/KEY.JS", "window.__medgw_media = " + json.text() + ";\n", mtime_s_);
}

}  // namespace medgw::media
