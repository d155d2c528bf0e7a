#pragma once
// Opens a spooled object the way the central does: age-decrypt, then read
// the zstd-compressed tar with libarchive.
#include <crypto/age.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medgw::test {

struct ObjectContent {
  std::vector<std::string> names;            // in archive order
  std::map<std::string, std::string> files;  // name -> bytes
  std::string manifest;
};

// Throws (a test failure) when the object does not decrypt or unpack.
[[nodiscard]] ObjectContent read_object(const std::filesystem::path& file, const crypto::X25519Identity& identity);
[[nodiscard]] ObjectContent read_tar_zstd(const std::vector<std::uint8_t>& compressed);

}  // namespace medgw::test
