#include <daemon/backup/pack.hpp>

#include <crypto/random.hpp>

#include <base/hex.hpp>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <new>
#include <stdexcept>
#include <vector>

#include <zstd.h>

namespace medgw::backup {
namespace {

constexpr std::string_view index_format = "medgw-pack/1\n";
constexpr std::uint32_t skippable_magic = 0x184D2A50;
constexpr int compression_level = 3;

// zstd contexts and the compression buffer, one per thread and reused:
// ZSTD_compress/ZSTD_decompress make a context per call, which costs more
// than compressing a small file's blob (most SS-MIX2 files are a few KiB).
struct ZstdScratch {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  std::vector<std::uint8_t> frame;
  ZstdScratch() = default;
  ZstdScratch(const ZstdScratch&) = delete;
  ZstdScratch& operator=(const ZstdScratch&) = delete;
  ~ZstdScratch() {
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

ZstdScratch& zstd_scratch() {
  thread_local ZstdScratch scratch;
  if (scratch.compress == nullptr || scratch.decompress == nullptr) throw std::bad_alloc();
  return scratch;
}

std::string new_pack_name() {
  std::array<std::uint8_t, 16> random{};
  crypto::random_bytes(random);
  return base::to_hex(random);
}

void put_le32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

std::uint32_t get_le32(const std::uint8_t* bytes) {
  return static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
         static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
}

// Collects the decryptor's authenticated output.
class VectorSink final : public base::ByteSink {
 public:
  explicit VectorSink(std::vector<std::uint8_t>& out) : out_(out) {}
  void write(base::ByteView bytes) override { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

 private:
  std::vector<std::uint8_t>& out_;
};

}  // namespace

PackWriter::PackWriter(const RepositoryTarget& repository, std::span<const crypto::X25519PublicKey> recipients)
    : repository_(repository), name_(new_pack_name()), file_(repository.new_file()),
      encryptor_(std::make_unique<crypto::age::Encryptor>(recipients, *file_)), index_(index_format) {}

PackWriter::~PackWriter() = default;

BlobRef PackWriter::add(const BlobId& id, base::ByteView content) {
  ZstdScratch& scratch = zstd_scratch();
  std::vector<std::uint8_t>& frame = scratch.frame;
  if (frame.size() < ZSTD_compressBound(content.size())) frame.resize(ZSTD_compressBound(content.size()));
  const std::size_t stored = ZSTD_compressCCtx(scratch.compress, frame.data(), frame.size(), content.data(),
                                               content.size(), compression_level);
  if (ZSTD_isError(stored)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(stored));
  encryptor_->write(base::ByteView(frame.data(), stored));
  BlobRef ref{id, name_, offset_, static_cast<std::uint32_t>(stored), static_cast<std::uint32_t>(content.size())};
  offset_ += stored;
  ++blobs_;
  index_ += base::to_hex(id) + " " + std::to_string(ref.offset) + " " + std::to_string(ref.stored) + " " +
            std::to_string(ref.size) + "\n";
  return ref;
}

PackInfo PackWriter::finish() {
  std::vector<std::uint8_t> trailer;
  put_le32(trailer, skippable_magic);
  put_le32(trailer, static_cast<std::uint32_t>(index_.size()));
  trailer.insert(trailer.end(), index_.begin(), index_.end());
  encryptor_->write(trailer);
  encryptor_->finish();
  PackInfo info{name_, file_->size(), file_->finish_hash()};
  repository_.publish(*file_, pack_name_in_layout(name_));
  return info;
}

OpenPack open_pack(const FolderRepository& repository, std::string_view name,
                   const crypto::age::Identities& identities) {
  OpenPack pack{std::string(name), {}, {}};
  std::ifstream in(repository.pack_file(name), std::ios::binary);
  if (!in) {
    pack.failure = errno == ENOENT ? "missing" : "unreadable";
    return pack;
  }
  VectorSink sink(pack.plaintext);
  crypto::age::Decryptor decryptor(identities, sink);
  std::vector<char> buffer(256 * 1024);
  std::optional<crypto::age::Failure> failure;
  while (!failure && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0) failure = decryptor.feed(base::ByteView(reinterpret_cast<const std::uint8_t*>(buffer.data()), got));
  }
  if (!failure && in.bad()) pack.failure = "unreadable";
  if (!failure && pack.failure.empty()) failure = decryptor.finish();
  if (failure) pack.failure = failure->message();
  return pack;
}

base::Result<std::vector<std::uint8_t>> read_blob(const OpenPack& pack, const BlobRef& ref, base::ByteView secret) {
  if (ref.offset + ref.stored > pack.plaintext.size()) {
    if (pack.failure == "missing") return base::fail("pack_missing", "pack " + pack.name + " is missing");
    return base::fail("pack_damaged", "pack " + pack.name + " is damaged (" +
                                          (pack.failure.empty() ? "shorter than its index says" : pack.failure) + ")");
  }
  std::vector<std::uint8_t> content(ref.size);
  const std::size_t got = ZSTD_decompressDCtx(zstd_scratch().decompress, content.data(), content.size(),
                                              pack.plaintext.data() + ref.offset, ref.stored);
  if (ZSTD_isError(got) || got != ref.size) {
    return base::fail("blob_damaged", "a blob in pack " + pack.name + " does not decompress");
  }
  if (blob_id(secret, content) != ref.id) {
    return base::fail("blob_damaged", "a blob in pack " + pack.name + " does not match its id");
  }
  return content;
}

base::Result<std::vector<BlobRef>> pack_index(const OpenPack& pack) {
  const std::vector<std::uint8_t>& plain = pack.plaintext;
  std::size_t at = 0;
  while (at < plain.size()) {
    const std::size_t frame = ZSTD_findFrameCompressedSize(plain.data() + at, plain.size() - at);
    if (ZSTD_isError(frame)) break;
    if (plain.size() - at >= 8 && get_le32(plain.data() + at) == skippable_magic) {
      const std::string_view text(reinterpret_cast<const char*>(plain.data() + at + 8), get_le32(plain.data() + at + 4));
      if (!text.starts_with(index_format)) break;
      std::vector<BlobRef> refs;
      std::string_view rest = text.substr(index_format.size());
      while (!rest.empty()) {
        const auto end = rest.find('\n');
        std::string line(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
        for (char& c : line) c = c == ' ' ? ':' : c;
        const auto first = line.find(':');
        if (first == std::string::npos) return base::fail("pack_damaged", "pack " + pack.name + ": bad index");
        auto ref = parse_blob_ref(line.substr(0, first) + ":" + pack.name + line.substr(first));
        if (!ref) return base::fail("pack_damaged", "pack " + pack.name + ": bad index line");
        refs.push_back(std::move(*ref));
      }
      return refs;
    }
    at += frame;
  }
  return base::fail("pack_damaged", "pack " + pack.name + ": no index" +
                                        (pack.failure.empty() ? std::string() : " (" + pack.failure + ")"));
}

}  // namespace medgw::backup
