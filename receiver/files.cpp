#include <receiver/files.hpp>

#include <crypto/hash.hpp>

#include <base/hex.hpp>

#include <cerrno>
#include <vector>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace medgw::receiver {

base::Result<std::string> sha256_of_file(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::fail("unreadable", std::generic_category().message(errno));
  crypto::Sha256 hash;
  std::vector<std::uint8_t> block(1 << 20);
  while (true) {
    const ssize_t got = ::read(fd.get(), block.data(), block.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return base::fail("unreadable", std::generic_category().message(errno));
    if (got == 0) break;
    hash.update(base::ByteView(block.data(), static_cast<std::size_t>(got)));
  }
  return base::to_hex(hash.finish());
}

base::Result<std::uint64_t> free_bytes(const std::filesystem::path& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return base::fail("statvfs_failed", std::generic_category().message(errno));
  return saturating_multiply(static_cast<std::uint64_t>(info.f_bavail), static_cast<std::uint64_t>(info.f_frsize));
}

void sync_file_system(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::syncfs(fd.get()) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot sync the landing file system");
  }
}

ErrnoClass classify_errno(std::error_code error) {
  if (error.category() != std::generic_category() && error.category() != std::system_category()) {
    return {"io_error", true};
  }
  switch (error.value()) {
    case ENOSPC:
    case EDQUOT: return {"disk_full", true};
    case EACCES:
    case EPERM: return {"permission_denied", true};
    case EROFS: return {"read_only", true};
    case EIO: return {"io_error", true};
    case EMFILE:
    case ENFILE:
    case ENOMEM: return {"out_of_resources", true};
    case EEXIST:
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY: return {"path_conflict", false};
    case ENAMETOOLONG: return {"name_too_long", false};
    case EILSEQ:
    case EINVAL: return {"bad_name", false};
    default: return {"io_error", true};
  }
}

}  // namespace medgw::receiver
