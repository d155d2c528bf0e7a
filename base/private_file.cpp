#include <base/private_file.hpp>

#include <base/unique_fd.hpp>

#include <base/hex.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::base {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

void write_all(int fd, ByteView content, const std::filesystem::path& file) {
  while (!content.empty()) {
    ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot write " + file.string());
    }
    content = content.subspan(static_cast<std::size_t>(written));
  }
}

std::string mode_octal(mode_t mode) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return text.data();
}

void check_private_mode(const struct stat& info, const std::filesystem::path& file) {
  if (!S_ISREG(info.st_mode)) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            file.string() + " is not a regular file");
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw std::system_error(std::make_error_code(std::errc::permission_denied),
                            file.string() + " holds a secret but its mode is " +
                                mode_octal(info.st_mode) +
                                " (group/other may read it); run: chmod 600 " + file.string());
  }
}

}  // namespace

void sync_directory(const std::filesystem::path& folder) {
  UniqueFd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(errno, "cannot open folder " + folder.string());
  if (::fsync(fd.get()) != 0) throw_errno(errno, "cannot fsync folder " + folder.string());
}

void create_private_file(const std::filesystem::path& file, ByteView content) {
  const std::filesystem::path folder =
      file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  std::array<std::uint8_t, 8> nonce{};
  kernel_random(nonce);
  const std::filesystem::path temp =
      folder / ("." + file.filename().string() + ".tmp-" + to_hex(nonce));

  UniqueFd fd(
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) throw_errno(errno, "cannot create " + temp.string());
  try {
    // The umask cannot widen 0600, but fchmod makes the intent explicit.
    if (::fchmod(fd.get(), 0600) != 0) throw_errno(errno, "cannot chmod " + temp.string());
    write_all(fd.get(), content, temp);
    if (::fsync(fd.get()) != 0) throw_errno(errno, "cannot fsync " + temp.string());
    if (::close(fd.release()) != 0) throw_errno(errno, "cannot close " + temp.string());
    // link() fails with EEXIST rather than replacing: no clobbering, atomically.
    if (::link(temp.c_str(), file.c_str()) != 0) {
      const int error = errno;
      if (error == EEXIST) {
        throw std::system_error(std::make_error_code(std::errc::file_exists),
                                file.string() + " already exists; refusing to overwrite it "
                                                "(move it away first if you mean to replace it)");
      }
      throw_errno(error, "cannot create " + file.string());
    }
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  ::unlink(temp.c_str());
  sync_directory(folder);
}

void require_private_mode(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) throw_errno(errno, "cannot read " + file.string());
  check_private_mode(info, file);
}

SecureBytes read_private_file(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(errno, "cannot read " + file.string());
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_errno(errno, "cannot stat " + file.string());
  check_private_mode(info, file);
  constexpr off_t max_secret_file = 1 << 20;
  if (info.st_size > max_secret_file) {
    throw std::system_error(std::make_error_code(std::errc::file_too_large),
                            file.string() + " is too large to be a key file");
  }
  SecureBytes content(static_cast<std::size_t>(info.st_size));
  std::size_t filled = 0;
  while (filled < content.size()) {
    ssize_t got = ::read(fd.get(), content.data() + filled, content.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot read " + file.string());
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  content.resize(filled);
  return content;
}

}  // namespace medgw::base
