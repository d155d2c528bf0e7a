#pragma once
// Lands received objects as the central's plaintext tree:
// <landing>/<facility>/<source>/<path>. Objects of a facility land strictly in
// seq order (a rename or deletion must follow what it renames or deletes), so
// an object waits until every earlier seq has landed.
//
// The object is decrypted with the central's age identity, its MANIFEST.json
// read first, and each member written to a temporary file and renamed into
// place only when it matches its entry (size, SHA-256). Names are checked
// before anything is written: absolute paths, "..", empty components and
// anything but regular files are refused, so nothing lands outside the tree.
#include <crypto/age.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace medgw::receiver {

class LandingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LandingSummary {
  std::size_t written = 0;
  std::size_t renamed = 0;
  std::size_t deleted = 0;
  std::size_t withdrawn = 0;  // patients whose SS-MIX2 folders were removed
};

// Throws LandingError (nothing of a refused object's members is left behind).
LandingSummary land_object(const std::filesystem::path& object_file, const crypto::age::Identities& identity,
                           const std::filesystem::path& facility_root);

// A relative path that stays inside the tree: no leading '/', no "." or ".."
// component, no empty component, no NUL.
[[nodiscard]] bool safe_relative_path(std::string_view path);

}  // namespace medgw::receiver
