#pragma once
// A spooled object's file as its PATCHes read it: one descriptor per object,
// opened for the first piece, and the checksum of the next piece computed on
// another thread while the current one is on the wire (tus sends
// Upload-Checksum before the body, so it cannot be computed while sending).
#include <daemon/delivery/tus_transfer.hpp>

#include <cstdint>
#include <filesystem>
#include <future>
#include <string>

namespace medgw::daemon {

class ObjectFile {
 public:
  ObjectFile(std::filesystem::path path, std::uint64_t size, std::uint64_t chunk);
  ObjectFile(const ObjectFile&) = delete;
  ObjectFile& operator=(const ObjectFile&) = delete;
  ~ObjectFile();  // waits for a checksum in progress: it reads the descriptor

  // The descriptor, opened on first use; -1 when the file cannot be opened
  // (the send then fails and is retried, which opens it again).
  [[nodiscard]] int descriptor();
  // The base64 SHA-256 of `piece` (tus::PieceChecksum), and the next piece's
  // started on another thread; empty when the file cannot be opened.
  [[nodiscard]] std::string checksum(tus::ByteRange piece);

 private:
  std::filesystem::path path_;
  std::uint64_t size_;
  std::uint64_t chunk_;
  int fd_ = -1;
  std::uint64_t prepared_at_ = 0;  // where the piece of `prepared_` starts
  std::future<std::string> prepared_;
};

}  // namespace medgw::daemon
