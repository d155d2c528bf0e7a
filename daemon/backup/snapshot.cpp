#include <daemon/backup/snapshot.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/text.hpp>

#include <charconv>
#include <cerrno>
#include <fstream>
#include <stdexcept>

#include <zstd.h>

namespace medgw::backup {
namespace {

constexpr std::string_view snapshot_format = "medgw-backup-snapshot/1";

using base::split_fields;

template <class T>
bool number(std::string_view text, T& value, int radix = 10) {
  return base::parse_number(text, value, radix);
}

std::optional<FileEntry> parse_file_line(const std::vector<std::string_view>& fields) {
  if (fields.size() != 7) return std::nullopt;
  FileEntry file;
  auto path = unescape_path(fields[5]);
  if (!number(fields[1], file.volume) || !number(fields[2], file.size) || !number(fields[3], file.mtime_ns) ||
      !number(fields[4], file.mode, 8) || !path) {
    return std::nullopt;
  }
  file.path = std::move(*path);
  if (!fields[6].empty()) {
    for (std::string_view text : split_fields(fields[6], ',')) {
      auto ref = parse_blob_ref(text);
      if (!ref) return std::nullopt;
      file.blobs.push_back(std::move(*ref));
    }
  }
  return file;
}

// Decompresses what the decryptor releases and hands on whole lines.
class LineSink final : public base::ByteSink {
 public:
  using OnLine = std::function<bool(std::string_view line)>;  // false: stop (a malformed line)
  explicit LineSink(OnLine on_line) : on_line_(std::move(on_line)), context_(ZSTD_createDCtx()) {}
  ~LineSink() override { ZSTD_freeDCtx(context_); }

  void write(base::ByteView bytes) override {
    ZSTD_inBuffer input{bytes.data(), bytes.size(), 0};
    std::vector<char> output(ZSTD_DStreamOutSize());
    bool output_full = false;  // zstd may hold more output for the same input
    while ((input.pos < input.size || output_full) && problem_.empty()) {
      ZSTD_outBuffer out{output.data(), output.size(), 0};
      const std::size_t result = ZSTD_decompressStream(context_, &out, &input);
      if (ZSTD_isError(result)) {
        problem_ = std::string("the snapshot does not decompress: ") + ZSTD_getErrorName(result);
        return;
      }
      output_full = out.pos == out.size;
      pending_.append(output.data(), out.pos);
      std::size_t start = 0;
      for (auto end = pending_.find('\n'); end != std::string::npos; end = pending_.find('\n', start)) {
        if (!on_line_(std::string_view(pending_).substr(start, end - start))) {
          problem_ = "the snapshot has a malformed line";
          return;
        }
        start = end + 1;
      }
      pending_.erase(0, start);
    }
  }
  [[nodiscard]] const std::string& problem() const noexcept { return problem_; }

 private:
  OnLine on_line_;
  ZSTD_DCtx* context_;
  std::string pending_;
  std::string problem_;
};

}  // namespace

struct SnapshotWriter::Compressor {
  Compressor() : context(ZSTD_createCCtx()) { ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3); }
  ~Compressor() { ZSTD_freeCCtx(context); }
  ZSTD_CCtx* context;
  std::string buffer;
};

SnapshotWriter::SnapshotWriter(const RepositoryTarget& repository,
                               std::span<const crypto::X25519PublicKey> recipients, const SnapshotHeader& header)
    : repository_(repository), file_(repository.new_file()),
      encryptor_(std::make_unique<crypto::age::Encryptor>(recipients, *file_)),
      compressor_(std::make_unique<Compressor>()) {
  put(std::string(snapshot_format) + "\t" + header.id + "\t" + header.created + "\t" + header.facility + "\t" +
          header.gateway_id,
      false);
  for (std::size_t i = 0; i < header.volumes.size(); ++i) {
    const VolumeInfo& volume = header.volumes[i];
    put("V\t" + std::to_string(i) + "\t" + volume.label + "\t" + (volume.by_patient ? "1" : "0") + "\t" + volume.type,
        false);
  }
}

SnapshotWriter::~SnapshotWriter() = default;

void SnapshotWriter::add(const FileEntry& file) {
  char mode[16];
  const auto [end, error] = std::to_chars(mode, mode + sizeof mode, file.mode, 8);
  (void)error;
  std::string line = "F\t" + std::to_string(file.volume) + "\t" + std::to_string(file.size) + "\t" +
                     std::to_string(file.mtime_ns) + "\t" + std::string(mode, end) + "\t" + escape_path(file.path) +
                     "\t";
  for (std::size_t i = 0; i < file.blobs.size(); ++i) {
    if (i > 0) line.push_back(',');
    line += blob_ref_text(file.blobs[i]);
  }
  put(line, false);
  ++files_;
  bytes_ += file.size;
}

void SnapshotWriter::finish() {
  put("E\t" + std::to_string(files_) + "\t" + std::to_string(bytes_), true);
  encryptor_->finish();
  sha256_ = file_->finish_hash();
}

void SnapshotWriter::put(std::string_view line, bool end) {
  std::string& buffer = compressor_->buffer;
  buffer.append(line);
  buffer.push_back('\n');
  if (!end && buffer.size() < 256 * 1024) return;
  ZSTD_inBuffer input{buffer.data(), buffer.size(), 0};
  std::vector<std::uint8_t> output(ZSTD_CStreamOutSize());
  const ZSTD_EndDirective directive = end ? ZSTD_e_end : ZSTD_e_continue;
  while (true) {
    ZSTD_outBuffer out{output.data(), output.size(), 0};
    const std::size_t remaining = ZSTD_compressStream2(compressor_->context, &out, &input, directive);
    if (ZSTD_isError(remaining)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(remaining));
    encryptor_->write(base::ByteView(output.data(), out.pos));
    if (end ? remaining == 0 : input.pos == input.size) break;
  }
  buffer.clear();
}

SnapshotReadResult read_snapshot(const FolderRepository& repository, std::string_view id,
                                 const crypto::age::Identities& identities, const SnapshotVisitor& visitor) {
  SnapshotReadResult result;
  SnapshotHeader header;
  bool header_done = false;
  bool ended = false;
  LineSink lines([&](std::string_view line) {
    const std::vector<std::string_view> fields = split_fields(line, '\t');
    if (ended) return false;
    if (!header_done && fields[0] == snapshot_format && fields.size() == 5) {
      header = {std::string(fields[1]), std::string(fields[2]), std::string(fields[3]), std::string(fields[4]), {}};
      return true;
    }
    if (fields[0] == "V" && fields.size() == 5 && !header_done) {
      header.volumes.push_back(VolumeInfo{std::string(fields[2]), fields[3] == "1", std::string(fields[4])});
      return true;
    }
    if (!header_done) {
      if (header.id.empty()) return false;
      header_done = true;
      if (visitor.on_header) visitor.on_header(header);
    }
    if (fields[0] == "F") {
      auto file = parse_file_line(fields);
      if (!file || file->volume >= header.volumes.size()) return false;
      ++result.files;
      result.bytes += file->size;
      if (visitor.on_file) visitor.on_file(result.files, *file);
      return true;
    }
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    if (fields[0] == "E" && fields.size() == 3 && number(fields[1], files) && number(fields[2], bytes)) {
      ended = files == result.files && bytes == result.bytes;
      return ended;
    }
    return false;
  });
  std::ifstream in(repository.snapshot_file(id), std::ios::binary);
  if (!in) {
    result.problem = errno == ENOENT ? "the snapshot file is missing" : "the snapshot file cannot be read";
    return result;
  }
  crypto::age::Decryptor decryptor(identities, lines);
  std::vector<char> buffer(256 * 1024);
  std::optional<crypto::age::Failure> failure;
  while (!failure && lines.problem().empty() && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0) failure = decryptor.feed(base::ByteView(reinterpret_cast<const std::uint8_t*>(buffer.data()), got));
  }
  if (!failure && lines.problem().empty()) failure = decryptor.finish();
  if (failure) result.problem = "the snapshot file is damaged or truncated (" + failure->message() + ")";
  else if (!lines.problem().empty()) result.problem = lines.problem();
  else if (!ended) result.problem = "the snapshot file is truncated (no end line)";
  if (!header_done && !header.id.empty() && visitor.on_header) visitor.on_header(header);
  result.complete = result.problem.empty();
  return result;
}

}  // namespace medgw::backup
