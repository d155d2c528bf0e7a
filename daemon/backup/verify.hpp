#pragma once
// `medgw backup list` and `medgw backup verify`. Without an identity they
// read only the clear parts - every snapshot's signed pack list, every pack
// named there present with its size and SHA-256, every snapshot file with
// its size and SHA-256 - which is also what retention will rely on. With the
// recovery identity, every pack is decrypted and each blob checked against
// its keyed id, and each snapshot is read to its end line with every blob it
// references found intact.
// `read_data_percent` below 100 reads (hashes, and with the identity
// decrypts) only a random part of the packs, at least one: the rest are
// checked present with their size. Run often with a small part, every pack's
// data is read over time without reading the whole repository each time.
#include <daemon/backup/repository_reader.hpp>

#include <backupstore/pack_list.hpp>

#include <crypto/signing.hpp>

#include <functional>

namespace medgw::backup {

struct VerifyOptions {
  unsigned read_data_percent = 100;  // 1..100
};

struct VerifyReport {
  std::uint64_t snapshots = 0;
  std::uint64_t packs = 0;
  std::uint64_t packs_read = 0;  // chosen to have their data read (all of them at 100%)
  std::uint64_t blobs = 0;  // checked with the identity
  std::uint64_t problems = 0;
};

// Reports each problem (naming the pack or snapshot and the snapshots it
// affects) through `problem`; `reader` is null without an identity.
[[nodiscard]] base::Result<VerifyReport> verify_repository(const FolderRepository& repository,
                                                           RepositoryReader* reader,
                                                           const std::function<void(const std::string&)>& problem,
                                                           VerifyOptions options = {});

}  // namespace medgw::backup
