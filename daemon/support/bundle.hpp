#pragma once
// A support bundle on disk: a pax tar compressed with zstd (libarchive),
// MANIFEST.json first, either age-encrypted to the support team's recipient
// or in clear for the hospital to review. The file is created with mode 0600
// and appears only when complete.
#include <crypto/age_keys.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medgw::daemon {

struct BundleEntry {
  std::string name;     // path inside the bundle
  std::string content;
  std::string why;      // one sentence, listed in MANIFEST.json
};

// The SHA-256 of an entry's content, hex.
[[nodiscard]] std::string content_sha256(const std::string& content);

// Writes `entries` (MANIFEST.json among them, first) to `file`: encrypted
// when `recipient` is given. Throws std::runtime_error / std::system_error
// naming the file on failure (nothing is left behind then).
void write_bundle_file(const std::filesystem::path& file, const std::vector<BundleEntry>& entries,
                       const std::optional<crypto::X25519PublicKey>& recipient);

}  // namespace medgw::daemon
