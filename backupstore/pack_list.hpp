#pragma once
// A snapshot's pack list (snapshots/<id>.packs): clear, signed by the
// gateway's Ed25519 key, naming every pack the snapshot needs with its size
// and SHA-256, and the snapshot file's. What retention and the clear checks
// rely on wherever the repository is - on a NAS, or at the central - with no
// decryption key.
#include <backupstore/repository.hpp>

#include <crypto/signing.hpp>

#include <base/result.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace medgw::backup {

// A pack's name: 32 lower-case hex digits.
[[nodiscard]] bool is_pack_name(std::string_view text);

struct PackListEntry {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;  // hex
};
struct PackList {
  std::string snapshot;
  std::string repository;
  std::string created;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::uint64_t snapshot_size = 0;
  std::string snapshot_sha256;
  std::vector<PackListEntry> packs;
};
[[nodiscard]] std::string signed_pack_list(const PackList& list, const crypto::SigningKey& signer);
// Parses and checks the signature against `key`; a failure says what is wrong.
[[nodiscard]] base::Result<PackList> parse_pack_list(std::string_view text, const crypto::Ed25519PublicKey& key);

struct SnapshotSummary {
  std::string id;
  bool visible = false;  // snapshots/<id>.age exists (else an interrupted run's pack list)
  std::string problem;   // the pack list's, if it cannot be read or checked
  PackList list;
};

// Every snapshot with its pack list (clear parts only), oldest first.
[[nodiscard]] base::Result<std::vector<SnapshotSummary>> summarize(const FolderRepository& repository);

// `backup list`'s table of the visible snapshots (medgw and medgw-receiver).
void print_snapshot_table(std::ostream& out, const std::vector<SnapshotSummary>& summaries);

}  // namespace medgw::backup
