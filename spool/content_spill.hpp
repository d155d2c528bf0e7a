#pragma once
// A large file's content compressed while the collector reads it, so that
// the file is read once (hashed, checked, filtered and compressed in one
// pass; issue 23) although its object can only be written afterwards (the
// manifest, first in the object, holds the hash of what the pass sent).
//
// The compressed bytes are one zstd frame in an unlinked temporary file in
// the spool folder, age-encrypted to a key that exists only in this
// process's memory: no plaintext on disk (invariant 5), and nothing left
// behind by a crash (the file never has a name). The object builder copies
// the frame into the object's zstd stream as it is.
#include <base/byte_sink.hpp>

#include <crypto/age_keys.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

namespace medgw::spool {

class SpilledContent {
 public:
  SpilledContent(int fd, crypto::X25519Identity key, std::uint64_t content_size);
  SpilledContent(const SpilledContent&) = delete;
  SpilledContent& operator=(const SpilledContent&) = delete;
  ~SpilledContent();

  // Bytes the frame holds once decompressed.
  [[nodiscard]] std::uint64_t content_size() const noexcept { return content_size_; }
  // Decrypts the frame into `out`. Throws std::system_error when the
  // temporary file cannot be read or fails its authentication.
  void copy_frame_to(base::ByteSink& out) const;

 private:
  int fd_;
  crypto::X25519Identity key_;
  std::uint64_t content_size_;
};

// A spill is only a shortcut: one that cannot be made or written (no
// folder, a full disk) is dropped, and finish() says so with a null result;
// the object builder then reads the file again.
class ContentSpill {
 public:
  // `folder` null: no spill.
  ContentSpill(const std::filesystem::path* folder, int level);
  ContentSpill(const ContentSpill&) = delete;
  ContentSpill& operator=(const ContentSpill&) = delete;
  ~ContentSpill();

  void write(std::string_view bytes);
  // Ends the frame; the content is then read back through the result only.
  // Null when the spill failed or was never made.
  [[nodiscard]] std::shared_ptr<const SpilledContent> finish();

 private:
  void drop() noexcept;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace medgw::spool
