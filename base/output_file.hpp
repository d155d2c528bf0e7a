#pragma once
// Byte sinks for files and descriptors. AtomicFile publishes a file only when
// it is complete: it writes a temporary sibling and, on commit(), fsyncs it,
// renames it into place and fsyncs the folder. Dropped without commit(), it
// removes the temporary file, so a failure never leaves a plausible output.
#include <base/byte_sink.hpp>

#include <filesystem>

namespace medgw::base {

class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  void write(ByteView bytes) override;

 private:
  int fd_;
  std::string name_;
};

class AtomicFile final : public ByteSink {
 public:
  // `mode` (less the umask) is the final file's: 0600 for plaintext or secrets.
  AtomicFile(std::filesystem::path target, unsigned mode);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() override;

  void write(ByteView bytes) override;
  // fsync, rename over `target`, fsync the folder. Throws std::system_error.
  void commit();
  [[nodiscard]] const std::filesystem::path& temporary() const noexcept { return temporary_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
};

}  // namespace medgw::base
