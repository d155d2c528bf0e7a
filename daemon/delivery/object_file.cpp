#include <daemon/delivery/object_file.hpp>

#include <crypto/hash.hpp>

#include <base/base64.hpp>

#include <algorithm>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace medgw::daemon {
namespace {

// base64 SHA-256 of [from, to) of the file (tus Upload-Checksum).
std::string piece_checksum(int fd, std::uint64_t from, std::uint64_t to) {
  crypto::Sha256 hash;
  // Sized to the piece (a small object's PATCH is a few KiB: zeroing 1 MiB
  // for it cost more than its TLS and HTTP together), up to 1 MiB.
  std::vector<std::uint8_t> block(static_cast<std::size_t>(std::clamp<std::uint64_t>(to - from, 1, 1 << 20)));
  for (std::uint64_t at = from; at < to;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), to - at));
    const ssize_t got = ::pread(fd, block.data(), want, static_cast<off_t>(at));
    if (got <= 0) break;  // the send fails the same way, and is retried
    hash.update(base::ByteView(block.data(), static_cast<std::size_t>(got)));
    at += static_cast<std::uint64_t>(got);
  }
  return base::base64_encode(hash.finish(), true);
}

}  // namespace

ObjectFile::ObjectFile(std::filesystem::path path, std::uint64_t size, std::uint64_t chunk)
    : path_(std::move(path)), size_(size), chunk_(chunk) {}

ObjectFile::~ObjectFile() {
  if (prepared_.valid()) prepared_.wait();
  if (fd_ >= 0) ::close(fd_);
}

int ObjectFile::descriptor() {
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  return fd_;
}

std::string ObjectFile::checksum(tus::ByteRange piece) {
  if (descriptor() < 0) return {};
  std::string sum;
  if (prepared_.valid()) {
    sum = prepared_.get();
    if (prepared_at_ != piece.from) sum.clear();  // resumed elsewhere: not this piece
  }
  if (sum.empty()) sum = piece_checksum(fd_, piece.from, piece.to);
  if (piece.to < size_) {
    const std::uint64_t next_end = std::min(size_, piece.to + chunk_);
    prepared_at_ = piece.to;
    prepared_ = std::async(std::launch::async, piece_checksum, fd_, piece.to, next_end);
  }
  return sum;
}

}  // namespace medgw::daemon
