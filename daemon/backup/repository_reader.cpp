#include <daemon/backup/repository_reader.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>

#include <crypto/hash.hpp>

#include <fstream>
#include <sstream>
#include <system_error>

namespace medgw::backup {
namespace {

constexpr std::size_t cached_packs = 3;

}  // namespace

base::Result<crypto::age::Identities> load_identities(const std::vector<std::filesystem::path>& files) {
  crypto::age::Identities identities;
  for (const std::filesystem::path& file : files) {
    base::SecureBytes content;
    try {
      content = base::read_private_file(file);
    } catch (const std::system_error& error) {
      return base::fail("identity_unreadable", error.what());
    }
    crypto::KeyFileError error;
    auto parsed = crypto::parse_identity_file(base::as_chars(content), error);
    if (parsed.empty()) {
      return base::fail("identity_invalid", file.string() + ":" + std::to_string(error.line) + ": " +
                                                (error.message.empty() ? "no age identity in it" : error.message));
    }
    for (auto& identity : parsed) identities.x25519.push_back(std::move(identity));
  }
  if (identities.x25519.empty()) return base::fail("identity_missing", "give the recovery identity with --identity FILE");
  return identities;
}

RepositoryReader::RepositoryReader(FolderRepository repository, RepositoryConfig config,
                                   crypto::age::Identities identities, std::vector<std::uint8_t> secret)
    : repository_(std::move(repository)), config_(std::move(config)), identities_(std::move(identities)),
      secret_(std::move(secret)) {}

base::Result<RepositoryReader> RepositoryReader::open(const std::filesystem::path& root,
                                                      crypto::age::Identities identities) {
  FolderRepository repository(root);
  auto config = repository.read_config();
  if (!config) return base::fail(config.error());
  if (!*config) {
    return base::fail("not_a_repository", root.string() + " holds no medgw backup repository (no config file)");
  }
  std::error_code ec;
  std::string last_problem = "no key file for this repository in keys/";
  for (const auto& entry : std::filesystem::directory_iterator(root / "keys", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with((*config)->id + ".") || !name.ends_with(".age")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string sealed = text.str();
    const auto opened = crypto::age::decrypt(base::as_bytes(sealed), identities);
    if (opened.failure) {
      last_problem = "the identity does not open " + name + " (" + opened.failure->message() + ")";
      continue;
    }
    auto secret = parse_secret_text(base::as_chars(opened.plaintext), (*config)->id);
    if (!secret) {
      last_problem = name + " is not a medgw backup secret";
      continue;
    }
    return RepositoryReader(std::move(repository), std::move(**config), std::move(identities), std::move(*secret));
  }
  return base::fail("identity_mismatch", "cannot open the repository's secret: " + last_problem +
                                             "; give the recovery identity the backup was made for");
}

base::Result<std::string> RepositoryReader::resolve(std::string_view snapshot) const {
  const std::vector<std::string> ids = snapshots();
  if (ids.empty()) return base::fail("no_snapshot", "the repository holds no snapshot yet");
  if (snapshot.empty() || snapshot == "latest") return ids.back();
  std::vector<std::string> matches;
  for (const std::string& id : ids) {
    if (id.starts_with(snapshot)) matches.push_back(id);
  }
  if (matches.size() == 1) return matches.front();
  return base::fail("unknown_snapshot", std::string(matches.empty() ? "no snapshot " : "more than one snapshot starts with ") +
                                            std::string(snapshot) + " (medgw backup list shows them)");
}

const OpenPack& RepositoryReader::pack(const std::string& name) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->name != name) continue;
    if (it != cache_.begin()) {
      OpenPack found = std::move(*it);
      cache_.erase(it);
      cache_.push_front(std::move(found));
    }
    return cache_.front();
  }
  cache_.push_front(open_pack(repository_, name, identities_));
  if (cache_.size() > cached_packs) cache_.pop_back();
  return cache_.front();
}

base::Status RepositoryReader::read_file(const FileEntry& file, base::ByteSink& out) {
  for (const BlobRef& ref : file.blobs) {
    const OpenPack& open = pack(ref.pack);
    if (open.failure == "missing") return base::fail("pack_missing", "pack " + ref.pack + " is missing");
    auto content = read_blob(open, ref, secret_);
    if (!content) return base::fail(content.error());
    out.write(*content);
  }
  return {};
}

std::string RepositoryReader::patient_tag(std::string_view patient_id) const {
  const crypto::Digest256 key = crypto::hmac_sha256(secret_, base::as_bytes("medgw-backup-patient-tag/1"));
  const crypto::Digest256 digest = crypto::hmac_sha256(key, base::as_bytes(patient_id));
  return "pt:" + base::to_hex(base::ByteView(digest.data(), 4));
}

std::string_view patient_of(std::string_view path) {
  const auto first = path.find('/');
  if (first == std::string_view::npos) return {};
  const auto second = path.find('/', first + 1);
  if (second == std::string_view::npos) return {};
  const auto third = path.find('/', second + 1);
  if (third == std::string_view::npos) return {};
  return path.substr(second + 1, third - second - 1);
}

}  // namespace medgw::backup
