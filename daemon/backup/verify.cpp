#include <daemon/backup/verify.hpp>

#include <base/hex.hpp>

#include <crypto/random.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace medgw::backup {
namespace {

struct FileCheck {
  bool present = false;
  std::uint64_t size = 0;
  std::string sha256;
};

FileCheck check_file(const std::filesystem::path& file) {
  FileCheck check;
  std::ifstream in(file, std::ios::binary);
  if (!in) return check;
  check.present = true;
  crypto::Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    hash.update(base::ByteView(reinterpret_cast<const std::uint8_t*>(buffer.data()), got));
    check.size += got;
  }
  check.sha256 = base::to_hex(hash.finish());
  return check;
}

// Presence and size only (a pack whose data is not read this time).
FileCheck stat_file(const std::filesystem::path& file) {
  FileCheck check;
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return check;
  check.present = true;
  check.size = size;
  return check;
}

// Which packs to read: all at 100 %, else a random ceil(percent) share, at
// least one.
std::set<std::string> packs_to_read(const std::map<std::string, std::vector<std::string>>& packs,
                                    unsigned percent) {
  std::vector<std::string> names;
  names.reserve(packs.size());
  for (const auto& [name, users] : packs) names.push_back(name);
  if (percent < 100 && !names.empty()) {
    const std::size_t keep = std::max<std::size_t>(1, (names.size() * percent + 99) / 100);
    // Fisher-Yates with the system's random bytes: a different part each run.
    for (std::size_t i = names.size() - 1; i > 0; --i) {
      std::uint64_t draw = 0;
      crypto::random_bytes(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&draw), sizeof draw));
      std::swap(names[i], names[draw % (i + 1)]);
    }
    names.resize(keep);
  }
  return {names.begin(), names.end()};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

class Verifier {
 public:
  Verifier(const FolderRepository& repository, RepositoryReader* reader,
           const std::function<void(const std::string&)>& problem, VerifyOptions options)
      : repository_(repository), reader_(reader), problem_(problem), options_(options) {}

  base::Result<VerifyReport> run() {
    auto summaries = summarize(repository_);
    if (!summaries) return base::fail(summaries.error());
    for (const SnapshotSummary& summary : *summaries) check_snapshot_clear(summary);
    read_ = packs_to_read(users_, options_.read_data_percent);
    report_.packs_read = read_.size();
    for (const auto& [name, users] : users_) check_pack(name, users);
    if (reader_ != nullptr) {
      for (const SnapshotSummary& summary : *summaries) {
        if (summary.visible) check_snapshot_content(summary.id);
      }
    }
    return report_;
  }

 private:
  void report(const std::string& text) {
    ++report_.problems;
    problem_(text);
  }

  void check_snapshot_clear(const SnapshotSummary& summary) {
    if (!summary.visible) return;  // an interrupted run: its packs are not relied on
    ++report_.snapshots;
    if (!summary.problem.empty()) {
      report("snapshot " + summary.id + ": " + summary.problem);
      return;
    }
    const FileCheck file = check_file(repository_.snapshot_file(summary.id));
    if (!file.present) {
      report("snapshot " + summary.id + ": the snapshot file is missing");
    } else if (file.size != summary.list.snapshot_size || file.sha256 != summary.list.snapshot_sha256) {
      report("snapshot " + summary.id + ": the snapshot file is damaged or truncated (" + std::to_string(file.size) +
             " bytes, expected " + std::to_string(summary.list.snapshot_size) + ")");
      damaged_snapshots_.insert(summary.id);
    }
    for (const PackListEntry& pack : summary.list.packs) {
      users_[pack.name].push_back(summary.id);
      expected_[pack.name] = pack;
    }
  }

  void check_pack(const std::string& name, const std::vector<std::string>& users) {
    ++report_.packs;
    const PackListEntry& expected = expected_[name];
    const bool read = read_.contains(name);
    const FileCheck file = read ? check_file(repository_.pack_file(name)) : stat_file(repository_.pack_file(name));
    std::string what;
    if (!file.present) what = "missing";
    else if (file.size != expected.size) what = "wrong size (" + std::to_string(file.size) + " bytes, expected " +
                                                 std::to_string(expected.size) + ")";
    else if (read && file.sha256 != expected.sha256) what = "damaged (its SHA-256 does not match)";
    if (!what.empty()) {
      bad_packs_.insert(name);
      report("pack " + name + ": " + what + "; affects snapshots " + join(users));
      return;
    }
    if (!read) return;
    if (reader_ == nullptr) return;
    checked_packs_.insert(name);
    const OpenPack pack = open_pack(reader_->repository(), name, reader_->identities());
    auto index = pack_index(pack);
    if (!index) {
      bad_packs_.insert(name);
      report("pack " + name + ": " + index.error().message + "; affects snapshots " + join(users));
      return;
    }
    std::uint64_t damaged = 0;
    for (const BlobRef& ref : *index) {
      ++report_.blobs;
      if (read_blob(pack, ref, reader_->secret())) good_blobs_.emplace(name, ref.offset);
      else ++damaged;
    }
    if (damaged > 0 || !pack.failure.empty()) {
      report("pack " + name + ": " + std::to_string(damaged) + " damaged blob(s)" +
             (pack.failure.empty() ? "" : " (" + pack.failure + ")") + "; affects snapshots " + join(users));
    }
  }

  void check_snapshot_content(const std::string& id) {
    std::uint64_t broken_files = 0;
    SnapshotVisitor visitor;
    visitor.on_file = [&](std::uint64_t, const FileEntry& file) {
      for (const BlobRef& ref : file.blobs) {
        // A blob of a pack not read this time counts as intact when the pack
        // is present with its size.
        const bool intact = checked_packs_.contains(ref.pack) ? good_blobs_.contains({ref.pack, ref.offset})
                                                               : expected_.contains(ref.pack) && !bad_packs_.contains(ref.pack);
        if (!intact) {
          ++broken_files;
          return;
        }
      }
    };
    const SnapshotReadResult read = reader_->list(id, visitor);
    if (!read.complete && !damaged_snapshots_.contains(id)) report("snapshot " + id + ": " + read.problem);
    if (broken_files > 0) {
      report("snapshot " + id + ": " + std::to_string(broken_files) +
             " file(s) cannot be restored whole (their blobs are in damaged or missing packs)");
    }
  }

  const FolderRepository& repository_;
  RepositoryReader* reader_;
  const std::function<void(const std::string&)>& problem_;
  VerifyOptions options_;
  VerifyReport report_;
  std::set<std::string> read_;           // packs whose data is read this run
  std::set<std::string> checked_packs_;  // packs decrypted blob by blob
  std::map<std::string, std::vector<std::string>> users_;
  std::map<std::string, PackListEntry> expected_;
  std::set<std::string> bad_packs_;
  std::set<std::string> damaged_snapshots_;
  std::set<std::pair<std::string, std::uint64_t>> good_blobs_;
};

}  // namespace

base::Result<VerifyReport> verify_repository(const FolderRepository& repository, RepositoryReader* reader,
                                             const std::function<void(const std::string&)>& problem,
                                             VerifyOptions options) {
  Verifier verifier(repository, reader, problem, options);
  return verifier.run();
}

}  // namespace medgw::backup
