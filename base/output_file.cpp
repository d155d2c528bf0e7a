#include <base/output_file.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>

#include <array>
#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace medgw::base {
namespace {

void write_fd(int fd, ByteView bytes, const std::string& name) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "cannot write " + name);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
}

}  // namespace

void FdSink::write(ByteView bytes) { write_fd(fd_, bytes, name_); }

AtomicFile::AtomicFile(std::filesystem::path target, unsigned mode) : target_(std::move(target)) {
  const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  std::array<std::uint8_t, 8> nonce{};
  kernel_random(nonce);
  temporary_ = folder / ("." + target_.filename().string() + ".tmp-" + to_hex(nonce));
  // The umask still applies: 0666 gives the usual 0644, 0600 stays private.
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot create a file in " + folder.string());
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temporary_.c_str());
  }
}

void AtomicFile::write(ByteView bytes) { write_fd(fd_, bytes, temporary_.string()); }

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw std::system_error(errno, std::generic_category(), "cannot fsync " + temporary_.string());
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temporary_.c_str());
    throw std::system_error(errno, std::generic_category(), "cannot close " + temporary_.string());
  }
  fd_ = -1;
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary_.c_str());
    throw std::system_error(error, std::generic_category(), "cannot rename into " + target_.string());
  }
  sync_directory(target_.has_parent_path() ? target_.parent_path() : std::filesystem::path("."));
}

}  // namespace medgw::base
