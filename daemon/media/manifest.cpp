#include <daemon/media/manifest.hpp>

#include <crypto/hash.hpp>

#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json.hpp>
#include <base/unique_fd.hpp>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::media {

std::string signature_statement(std::string_view manifest_sha256_hex) {
  return "medgw-media/1\n" + std::string(manifest_sha256_hex) + "\n";
}

struct ManifestRecorder::Scratch {
  std::filesystem::path file;
  std::FILE* stream = nullptr;
  bool first = true;
  ~Scratch() {
    if (stream) std::fclose(stream);
  }
};

namespace {

class HashingStream final : public StreamedFile {
 public:
  HashingStream(ManifestRecorder& recorder, std::string path, std::unique_ptr<StreamedFile> inner)
      : recorder_(recorder), path_(std::move(path)), inner_(std::move(inner)) {}
  void write(base::ByteView bytes) override {
    hash_.update(bytes);
    size_ += bytes.size();
    inner_->write(bytes);
  }
  void close() override {
    inner_->close();
    recorder_.record(path_, size_, base::to_hex(hash_.finish()));
  }

 private:
  ManifestRecorder& recorder_;
  std::string path_;
  std::unique_ptr<StreamedFile> inner_;
  crypto::Sha256 hash_;
  std::uint64_t size_ = 0;
};

}  // namespace

ManifestRecorder::ManifestRecorder(MediaSink& inner, const std::filesystem::path& scratch)
    : inner_(inner), scratch_(std::make_unique<Scratch>()) {
  scratch_->file = scratch;
  scratch_->stream = std::fopen(scratch.c_str(), "w+xe");
  if (!scratch_->stream) throw std::system_error(errno, std::generic_category(), "cannot write " + scratch.string());
}

ManifestRecorder::~ManifestRecorder() = default;

void ManifestRecorder::record(std::string_view path, std::uint64_t size, std::string_view sha256_hex) {
  base::JsonWriter json;
  json.begin_object();
  if (base::is_valid_utf8(path)) {
    json.field("path", path);
  } else {
    json.field("path_base64", base::base64_encode(base::as_bytes(path), true));
  }
  json.field("size", size).field("sha256", sha256_hex).end_object();
  const std::string line = (scratch_->first ? "" : ",\n") + json.text();
  scratch_->first = false;
  if (std::fwrite(line.data(), 1, line.size(), scratch_->stream) != line.size()) {
    throw std::system_error(errno, std::generic_category(), "cannot write " + scratch_->file.string());
  }
  ++files_;
  bytes_ += size;
}

void ManifestRecorder::add(std::string_view path, std::string_view content, std::int64_t mtime_s) {
  inner_.add(path, content, mtime_s);
  record(path, content.size(), base::to_hex(crypto::sha256(base::as_bytes(content))));
}

std::unique_ptr<StreamedFile> ManifestRecorder::open_stream(std::string_view path, std::int64_t mtime_s) {
  return std::make_unique<HashingStream>(*this, std::string(path), inner_.open_stream(path, mtime_s));
}

void ManifestRecorder::commit() { inner_.commit(); }

void ManifestRecorder::finish(const ManifestHeader& header, const crypto::SigningKey& signer) {
  base::JsonWriter json;
  json.begin_object()
      .field("format", "medgw-media-manifest/1")
      .field("created", header.created)
      .field("medgw", header.medgw_version)
      .field("facility", header.facility_code)
      .field("facility_name", header.facility_name)
      .field("title", header.title)
      .field("origin", header.origin);
  if (!header.snapshot.empty()) json.field("snapshot", header.snapshot);
  json.key("volumes").begin_array();
  for (const std::string& volume : header.volumes) json.value(volume);
  json.end_array();
  json.field("encrypted", header.encrypted).field("signer", signer.public_key_text());
  json.field("file_count", files_).field("total_bytes", bytes_);
  const std::int64_t now = std::time(nullptr);
  auto manifest = inner_.open_stream(manifest_name, now);
  crypto::Sha256 hash;
  const auto put = [&](std::string_view text) {
    hash.update(base::as_bytes(text));
    manifest->write(base::as_bytes(text));
  };
  put(json.text());
  put(",\n\"files\": [\n");
  if (std::fflush(scratch_->stream) != 0 || std::fseek(scratch_->stream, 0, SEEK_SET) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot read back " + scratch_->file.string());
  }
  std::vector<char> buffer(1 << 16);
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), scratch_->stream)) > 0) put({buffer.data(), got});
  put("\n]}\n");
  manifest->close();
  const std::string digest = base::to_hex(hash.finish());
  const crypto::Ed25519Signature signature = signer.sign(base::as_bytes(signature_statement(digest)));
  base::JsonWriter sig;
  sig.begin_object()
      .field("format", "medgw-media-signature/1")
      .field("algorithm", "ed25519")
      .field("signer", signer.public_key_text())
      .field("manifest_sha256", digest)
      .field("signature", base::base64_encode(signature, true))
      .end_object();
  inner_.add(signature_name, sig.text() + "\n", now);
  inner_.commit();
}

}  // namespace medgw::media
