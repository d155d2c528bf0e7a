#pragma once
// Packs: many blobs in one age file. The plaintext is a run of zstd frames,
// one per blob, then a zstd *skippable* frame holding the pack's index
// ("medgw-pack/1" and one line per blob: id, offset, stored, size), so
// `age -d -i recovery.key PACK | zstd -d` gives the blobs' bytes back with
// stock tools. A pack is named by 16 random bytes (hex), chosen before it is
// written, and its SHA-256 is kept in the signed pack lists.
#include <daemon/backup/format.hpp>
#include <backupstore/repository.hpp>

#include <crypto/age.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace medgw::backup {

struct PackInfo {
  std::string name;
  std::uint64_t size = 0;       // of the age file
  crypto::Digest256 sha256{};   // of the age file
};

class PackWriter {
 public:
  PackWriter(const RepositoryTarget& repository, std::span<const crypto::X25519PublicKey> recipients);
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;
  ~PackWriter();

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // Compresses and appends one blob; returns where it is.
  BlobRef add(const BlobId& id, base::ByteView content);
  [[nodiscard]] std::uint64_t plaintext_size() const noexcept { return offset_; }
  [[nodiscard]] std::size_t blob_count() const noexcept { return blobs_; }
  // Writes the index, seals the age file and publishes it under packs/.
  // Throws std::system_error (disk full...).
  PackInfo finish();

 private:
  const RepositoryTarget& repository_;
  std::string name_;
  std::unique_ptr<NewFile> file_;
  std::unique_ptr<crypto::age::Encryptor> encryptor_;
  std::string index_;
  std::uint64_t offset_ = 0;
  std::size_t blobs_ = 0;
};

// One pack decrypted into memory (packs are ~16-20 MiB). When the age file
// fails to authenticate, `plaintext` holds the chunks that did before the
// failure (their blobs can still be used) and `failure` says why.
struct OpenPack {
  std::string name;
  std::vector<std::uint8_t> plaintext;
  std::string failure;  // empty when the whole pack authenticated
};
[[nodiscard]] OpenPack open_pack(const FolderRepository& repository, std::string_view name,
                                 const crypto::age::Identities& identities);

// The blob `ref` from `pack`, decompressed and checked against its id.
[[nodiscard]] base::Result<std::vector<std::uint8_t>> read_blob(const OpenPack& pack, const BlobRef& ref,
                                                                base::ByteView secret);

// The index at the end of a pack's plaintext: every blob it holds.
[[nodiscard]] base::Result<std::vector<BlobRef>> pack_index(const OpenPack& pack);

}  // namespace medgw::backup
