#pragma once
// MANIFEST.JSON and MANIFEST.SIG: the chain of custody of a medium. The
// manifest lists every other file with its size and SHA-256 (a name that is
// not UTF-8 as path_base64), and says where the data came from (the live
// sources, or a backup and its snapshot), when, by which medgw and gateway,
// for which facility. MANIFEST.SIG is the gateway's Ed25519 signature
// (state_dir/signing.key) of the statement
//   "medgw-media/1\n<SHA-256 of MANIFEST.JSON, hex>\n"
// so the manifest itself can be streamed (a clear medium of a million files
// has a manifest of ~150 MB) and still be verified with stock tools.
#include <daemon/media/media_sink.hpp>

#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace medgw::media {

inline constexpr std::string_view manifest_name = "MANIFEST.JSON";
inline constexpr std::string_view signature_name = "MANIFEST.SIG";

struct ManifestHeader {
  std::string created;  // RFC 3339
  std::string medgw_version;
  std::string facility_code;
  std::string facility_name;
  std::string origin;    // "sources" or "backup"
  std::string snapshot;  // the backup snapshot, else empty
  std::vector<std::string> volumes;
  bool encrypted = true;
  std::string title;
};

// The statement MANIFEST.SIG signs.
[[nodiscard]] std::string signature_statement(std::string_view manifest_sha256_hex);

// A MediaSink that records every file it passes on (path, size, SHA-256) in
// a scratch file, and on finish() writes the manifest and its signature.
class ManifestRecorder final : public MediaSink {
 public:
  ManifestRecorder(MediaSink& inner, const std::filesystem::path& scratch);
  ~ManifestRecorder() override;

  void add(std::string_view path, std::string_view content, std::int64_t mtime_s) override;
  [[nodiscard]] std::unique_ptr<StreamedFile> open_stream(std::string_view path, std::int64_t mtime_s) override;
  // Writes MANIFEST.JSON and MANIFEST.SIG, then commits the inner sink.
  void commit() override;
  void finish(const ManifestHeader& header, const crypto::SigningKey& signer);
  [[nodiscard]] std::uint64_t names_not_representable() const override { return inner_.names_not_representable(); }

  [[nodiscard]] std::uint64_t files() const noexcept { return files_; }
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  void record(std::string_view path, std::uint64_t size, std::string_view sha256_hex);

 private:
  struct Scratch;
  MediaSink& inner_;
  std::unique_ptr<Scratch> scratch_;
  std::uint64_t files_ = 0;
  std::uint64_t bytes_ = 0;
};

struct VerifyReport {
  std::uint64_t files = 0;
  std::string signer;  // "ed25519:<base64>"
  std::string created;
  std::string origin;
  std::vector<std::string> problems;  // empty: verified
};

// Verifies a medium (a folder, an ISO image or a zip): every listed file
// present with its size and SHA-256, nothing unlisted, and the signature.
// `expected_signer` (optional) must then be the key that signed it.
[[nodiscard]] base::Result<VerifyReport> verify_media(const std::filesystem::path& media,
                                                      std::string_view expected_signer = {});

}  // namespace medgw::media
