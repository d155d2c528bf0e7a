#pragma once
// File helpers of the receiver: hashing a file, free
// space, and what an errno means for an object (its fault, or the
// environment's). Messages never name a path: paths under landing/ name
// patients.
#include <base/result.hpp>
#include <base/unique_fd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace medgw::receiver {

using base::UniqueFd;

// SHA-256 (hex) of a whole file.
[[nodiscard]] base::Result<std::string> sha256_of_file(const std::filesystem::path& file);

// Bytes an unprivileged writer may still use on the file system holding `path`.
[[nodiscard]] base::Result<std::uint64_t> free_bytes(const std::filesystem::path& path);

// syncfs() of the file system holding `path`: everything written there so far
// is on disk (the landing's durability point, once per object). Throws
// std::system_error without the path.
void sync_file_system(const std::filesystem::path& path);

struct ErrnoClass {
  std::string code;  // disk_full, permission_denied, path_conflict, ...
  bool transient;    // the environment's fault: try again later
};
[[nodiscard]] ErrnoClass classify_errno(std::error_code error);

// a * b, or UINT64_MAX when it overflows.
[[nodiscard]] constexpr std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

}  // namespace medgw::receiver
