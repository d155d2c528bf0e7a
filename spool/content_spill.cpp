#include <spool/content_spill.hpp>

#include <spool/zstd_writer.hpp>

#include <crypto/age.hpp>

#include <base/hex.hpp>
#include <base/output_file.hpp>

#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::spool {
namespace {

// An unlinked file in `folder`: O_TMPFILE, or where the file system has
// none, a fresh name removed at once.
int anonymous_file(const std::filesystem::path& folder) {
  int fd = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    throw std::system_error(errno, std::generic_category(), "cannot make a temporary file in " + folder.string());
  }
  std::array<std::uint8_t, 8> nonce{};
  base::kernel_random(nonce);
  // Named as the spool's other temporary files, which recovery removes (a
  // crash before the unlink below).
  const std::filesystem::path name = folder / (".spill.tmp-" + base::to_hex(nonce));
  fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot make a temporary file in " + folder.string());
  ::unlink(name.c_str());
  return fd;
}

}  // namespace

SpilledContent::SpilledContent(int fd, crypto::X25519Identity key, std::uint64_t content_size)
    : fd_(fd), key_(std::move(key)), content_size_(content_size) {}

SpilledContent::~SpilledContent() { ::close(fd_); }

void SpilledContent::copy_frame_to(base::ByteSink& out) const {
  crypto::age::Identities identities;
  identities.x25519.push_back(key_);
  crypto::age::Decryptor decryptor(identities, out);
  std::vector<std::uint8_t> block(256 << 10);
  off_t at = 0;
  std::optional<crypto::age::Failure> failure;
  while (!failure) {
    const ssize_t got = ::pread(fd_, block.data(), block.size(), at);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::generic_category(), "cannot read a spilled file back");
    if (got == 0) break;
    failure = decryptor.feed(base::ByteView(block.data(), static_cast<std::size_t>(got)));
    at += got;
  }
  if (!failure) failure = decryptor.finish();
  if (failure) {
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            "a spilled file does not decrypt: " + failure->message());
  }
}

struct ContentSpill::State {
  State(int descriptor, int level)
      : fd(descriptor),
        key(crypto::generate_identity()),
        file(fd, "a spilled file"),
        encryptor(std::span<const crypto::X25519PublicKey>(&key.public_key, 1), file),
        zstd(encryptor, level, 1) {}
  int fd;
  crypto::X25519Identity key;
  base::FdSink file;
  crypto::age::Encryptor encryptor;
  ZstdWriter zstd;
  std::uint64_t size = 0;
};

ContentSpill::ContentSpill(const std::filesystem::path* folder, int level) {
  if (folder == nullptr) return;
  int fd = -1;
  try {
    fd = anonymous_file(*folder);
    state_ = std::make_unique<State>(fd, level);
  } catch (const std::system_error&) {
    if (fd >= 0) ::close(fd);
  }
}

ContentSpill::~ContentSpill() { drop(); }

void ContentSpill::drop() noexcept {
  if (!state_) return;
  const int fd = state_->fd;
  state_.reset();
  ::close(fd);
}

void ContentSpill::write(std::string_view bytes) {
  if (!state_) return;
  try {
    state_->zstd.write(base::as_bytes(bytes));
    state_->size += bytes.size();
  } catch (const std::system_error&) {
    drop();
  }
}

std::shared_ptr<const SpilledContent> ContentSpill::finish() {
  if (!state_) return nullptr;
  try {
    state_->zstd.end_frame();
    state_->encryptor.finish();
  } catch (const std::system_error&) {
    drop();
    return nullptr;
  }
  const int fd = state_->fd;
  crypto::X25519Identity key = std::move(state_->key);
  const std::uint64_t size = state_->size;
  state_.reset();  // the writers go; the descriptor now belongs to the result
  return std::make_shared<const SpilledContent>(fd, std::move(key), size);
}

}  // namespace medgw::spool
