// `medgw export-media --verify PATH`: reads a medium back (folder, ISO image or
// zip, through libarchive), hashes every file and checks them against the
// signed manifest.
#include <daemon/media/manifest.hpp>

#include <crypto/hash.hpp>

#include <base/archive_handles.hpp>
#include <base/base64.hpp>
#include <base/hex.hpp>
#include <base/json_reader.hpp>
#include <base/utf8_locale.hpp>

#include <fstream>
#include <map>

namespace medgw::media {
namespace {

namespace fs = std::filesystem;

struct Found {
  std::uint64_t size = 0;
  std::string sha256;
};

struct Contents {
  std::map<std::string, Found> files;
  std::string manifest;
  std::string signature;
};

// Names of the raw storage name patients: problems show only that it is one.
std::string shown(const std::string& path) {
  return path.starts_with("SSMIX2/") ? std::string("a file of SSMIX2/ (name not shown: it names a patient)") : path;
}

void keep(Contents& contents, std::string path, std::string_view data_hex, std::uint64_t size, const std::string* whole) {
  if (path == manifest_name && whole) contents.manifest = *whole;
  if (path == signature_name && whole) contents.signature = *whole;
  contents.files[std::move(path)] = Found{size, std::string(data_hex)};
}

base::Result<Contents> read_folder(const fs::path& root) {
  Contents contents;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root, error); !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    crypto::Sha256 hash;
    std::string whole;
    std::uint64_t size = 0;
    const std::string relative = it->path().lexically_relative(root).generic_string();
    const bool small_kept = relative == manifest_name || relative == signature_name;
    std::vector<char> buffer(1 << 16);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      const std::string_view piece(buffer.data(), static_cast<std::size_t>(in.gcount()));
      hash.update(piece);
      size += piece.size();
      if (small_kept) whole.append(piece);
    }
    keep(contents, relative, base::to_hex(hash.finish()), size, &whole);
  }
  if (error) return base::fail("unreadable", "cannot read " + root.string() + ": " + error.message());
  return contents;
}

base::Result<Contents> read_archive(const fs::path& image) {
  const base::ScopedUtf8Locale utf8_locale;
  base::libarchive::Reader a(archive_read_new());
  archive_read_support_format_iso9660(a.get());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), image.c_str(), 1 << 16) != ARCHIVE_OK) {
    return base::fail("unreadable", "cannot read " + image.string() + " as an ISO image or a zip: " +
                                        (archive_error_string(a.get()) ? archive_error_string(a.get()) : "?"));
  }
  Contents contents;
  struct archive_entry* entry = nullptr;
  int result = ARCHIVE_OK;
  std::vector<char> buffer(1 << 16);
  while ((result = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK || result == ARCHIVE_WARN) {
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    while (path.starts_with("./")) path.erase(0, 2);
    crypto::Sha256 hash;
    std::string whole;
    std::uint64_t size = 0;
    la_ssize_t got = 0;
    while ((got = archive_read_data(a.get(), buffer.data(), buffer.size())) > 0) {
      const std::string_view piece(buffer.data(), static_cast<std::size_t>(got));
      hash.update(piece);
      size += piece.size();
      if (path == manifest_name || path == signature_name) whole.append(piece);
    }
    if (got < 0) return base::fail("unreadable", "cannot read " + image.string() + ": a damaged entry");
    keep(contents, path, base::to_hex(hash.finish()), size, &whole);
  }
  if (result != ARCHIVE_EOF) {
    return base::fail("unreadable", "cannot read " + image.string() + ": " +
                                        (archive_error_string(a.get()) ? archive_error_string(a.get()) : "?"));
  }
  return contents;
}

void check_signature(const Contents& contents, std::string_view expected_signer, VerifyReport& report) {
  const auto signature = base::JsonValue::parse(contents.signature);
  report.signer = signature.string_at("signer");
  const std::string digest = base::to_hex(crypto::sha256(base::as_bytes(contents.manifest)));
  if (signature.string_at("manifest_sha256") != digest) report.problems.push_back("MANIFEST.JSON was changed: its SHA-256 is not the signed one");
  const auto key = crypto::parse_public_key_text(report.signer);
  const auto bytes = base::base64_decode_padded(signature.string_at("signature"));
  crypto::Ed25519Signature sig{};
  if (!key || !bytes || bytes->size() != sig.size()) {
    report.problems.push_back("MANIFEST.SIG is malformed");
    return;
  }
  std::copy(bytes->begin(), bytes->end(), sig.begin());
  if (!crypto::verify_signature(*key, base::as_bytes(signature_statement(digest)), sig)) {
    report.problems.push_back("the signature in MANIFEST.SIG does not verify");
  }
  if (!expected_signer.empty() && expected_signer != report.signer) {
    report.problems.push_back("signed by " + report.signer + ", not by the expected " + std::string(expected_signer));
  }
}

}  // namespace

base::Result<VerifyReport> verify_media(const fs::path& media, std::string_view expected_signer) {
  std::error_code error;
  auto read = fs::is_directory(media, error) ? read_folder(media) : read_archive(media);
  if (!read) return base::fail(read.error());
  Contents& contents = *read;
  if (contents.manifest.empty() || contents.signature.empty()) {
    return base::fail("not_media", media.string() + " has no MANIFEST.JSON and MANIFEST.SIG: not a medgw medium");
  }
  VerifyReport report;
  try {
    check_signature(contents, expected_signer, report);
    const auto manifest = base::JsonValue::parse(contents.manifest);
    report.created = manifest.string_at("created");
    report.origin = manifest.string_at("origin");
    if (manifest.string_at("signer") != report.signer) report.problems.push_back("MANIFEST.JSON names another signer");
    for (const base::JsonValue& item : manifest.at("files").items()) {
      std::string path;
      if (const auto* plain = item.find("path")) {
        path = plain->text();
      } else {
        const auto raw = base::base64_decode_padded(item.string_at("path_base64"));
        if (raw) path.assign(raw->begin(), raw->end());
      }
      const auto found = contents.files.find(path);
      if (found == contents.files.end()) {
        report.problems.push_back("missing: " + shown(path));
        continue;
      }
      if (found->second.size != item.uint_at("size") || found->second.sha256 != item.string_at("sha256")) {
        report.problems.push_back("changed: " + shown(path));
      }
      contents.files.erase(found);
      ++report.files;
    }
  } catch (const base::JsonError& bad) {
    return base::fail("not_media", media.string() + ": MANIFEST.JSON or MANIFEST.SIG is not valid JSON (" + bad.what() + ")");
  }
  for (const auto& [path, found] : contents.files) {
    if (path != manifest_name && path != signature_name) report.problems.push_back("not in the manifest: " + shown(path));
  }
  return report;
}

}  // namespace medgw::media
