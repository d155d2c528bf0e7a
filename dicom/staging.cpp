#include <dicom/staging.hpp>

#include <crypto/hash.hpp>
#include <crypto/random.hpp>

#include <base/hex.hpp>
#include <base/private_file.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>

namespace medgw::dicom {
namespace {

namespace fs = std::filesystem;

// True when it was made now (its parent must then be synced).
bool make_private_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return true;
  if (errno != EEXIST) throw std::system_error(errno, std::generic_category(), "cannot create " + dir.string());
  return false;
}

std::int64_t mtime_ns(const struct stat& info) {
  return static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
}

std::uint64_t tree_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
  }
  return total;
}

}  // namespace

Staging::Staging(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_.parent_path());
  make_private_dir(dir_);
  for (const char* sub : {"incoming", "studies", "sending"}) make_private_dir(dir_ / sub);
}

std::string Staging::key_of(std::string_view uid) {
  const crypto::Digest256 digest = crypto::sha256(crypto::as_bytes(uid));
  return base::to_hex(std::span(digest).first(16));
}

Staging::Incoming Staging::open_incoming() const {
  std::array<std::uint8_t, 12> name{};
  crypto::random_bytes(name);
  Incoming incoming;
  incoming.path = dir_ / "incoming" / (base::to_hex(name) + ".part");
  incoming.fd = base::UniqueFd(::open(incoming.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!incoming.fd) throw std::system_error(errno, std::generic_category(), "cannot create a file in " + (dir_ / "incoming").string());
  return incoming;
}

void Staging::stage(const fs::path& file, const InstanceFacts& facts) const {
  const fs::path study = dir_ / "studies" / key_of(facts.study_uid);
  const fs::path target = study / (key_of(facts.sop_instance) + ".dcm");
  // The feed may move the study folder away between mkdir and rename: then
  // the rename fails (ENOENT) and a fresh folder is made.
  bool made = false;
  for (int attempt = 0;; ++attempt) {
    made = make_private_dir(study) || made;
    if (::rename(file.c_str(), target.c_str()) == 0) break;
    if (errno != ENOENT || attempt >= 5) throw std::system_error(errno, std::generic_category(), "cannot stage an instance in " + study.string());
  }
  base::sync_directory(study);
  if (made) base::sync_directory(study.parent_path());
}

std::size_t Staging::clear_incoming() const {
  std::size_t removed = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_ / "incoming", ec)) {
    std::error_code remove_ec;
    if (fs::remove(entry.path(), remove_ec)) ++removed;
  }
  return removed;
}

std::uint64_t Staging::usage() const { return tree_bytes(dir_ / "studies") + tree_bytes(dir_ / "sending"); }

std::vector<Staging::Study> Staging::claim_settled(std::chrono::milliseconds settle) const {
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_ / "studies", ec)) {
    struct stat info {};
    if (::stat(entry.path().c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) continue;
    if (now_ns - mtime_ns(info) < std::chrono::duration_cast<std::chrono::nanoseconds>(settle).count()) continue;
    std::array<std::uint8_t, 6> suffix{};
    crypto::random_bytes(suffix);
    const fs::path claimed = dir_ / "sending" / (entry.path().filename().string() + "." + base::to_hex(suffix));
    if (::rename(entry.path().c_str(), claimed.c_str()) != 0) continue;
    base::sync_directory(dir_ / "sending");
    base::sync_directory(dir_ / "studies");
  }
  std::vector<std::pair<std::int64_t, Study>> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_ / "sending", ec)) {
    struct stat info {};
    if (::stat(entry.path().c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) continue;
    const std::string name = entry.path().filename().string();
    found.push_back({mtime_ns(info), Study{entry.path(), name.substr(0, name.find('.'))}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Study> out;
  for (auto& [when, study] : found) out.push_back(std::move(study));
  return out;
}

Staging::Counts Staging::count(const fs::path& dir) {
  Counts counts;
  auto tally = [&](const fs::path& folder, std::uint64_t& studies, std::uint64_t& instances) {
    std::error_code ec;
    for (const fs::directory_entry& study : fs::directory_iterator(folder, ec)) {
      ++studies;
      std::error_code inner;
      for (const fs::directory_entry& file : fs::directory_iterator(study.path(), inner)) {
        std::error_code size_ec;
        ++instances;
        counts.bytes += file.file_size(size_ec);
      }
    }
  };
  tally(dir / "studies", counts.settling_studies, counts.settling_instances);
  tally(dir / "sending", counts.claimed_studies, counts.claimed_instances);
  return counts;
}

std::size_t Staging::settling() const {
  std::size_t count = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_ / "studies", ec), end; !ec && it != end; it.increment(ec)) ++count;
  return count;
}

std::vector<Staging::StagedFile> Staging::files_of(const Study& study) {
  std::vector<StagedFile> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(study.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 32 + 4 || !name.ends_with(".dcm")) continue;  // <32 hex>.dcm
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    out.push_back({entry.path(), name.substr(0, 32)});
  }
  std::sort(out.begin(), out.end(), [](const StagedFile& a, const StagedFile& b) { return a.sop_key < b.sop_key; });
  return out;
}

}  // namespace medgw::dicom
